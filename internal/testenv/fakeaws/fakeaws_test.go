package fakeaws

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const (
	acctA = "111111111111" // the management account
	acctB = "222222222222"
	acctC = "333333333333"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawConfig is the config tests use: base credentials of an unknown key (so the management
// account), no retries so errors show raw.
func rawConfig(srv *Server) aws.Config {
	url := srv.URL()
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: &url,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLEBASE00000", "secret", ""),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:   HTTPClient(),
	}
}

func newServer(t *testing.T, o Options) *Server {
	t.Helper()
	srv := New(o)
	t.Cleanup(srv.Close)
	return srv
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a smithy.APIError", err, err)
	}
	return ae.ErrorCode()
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestListUsersPaginationEveryUserOnce(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := ctxT(t)
	gs := srv.SeedUsers(acctA, GenerateOptions{Seed: 7, N: 250})
	client := iam.NewFromConfig(rawConfig(srv))

	for _, tc := range []struct {
		maxItems  *int32
		wantPages int
	}{{nil, 3}, {aws.Int32(37), 7}, {aws.Int32(1000), 1}, {aws.Int32(250), 1}, {aws.Int32(249), 2}} {
		srv.ResetCalls()
		seen := map[string]int{}
		var order []string
		pages := 0
		p := iam.NewListUsersPaginator(client, &iam.ListUsersInput{MaxItems: tc.maxItems})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListUsers page %d: %v", pages+1, err)
			}
			pages++
			for _, u := range out.Users {
				seen[aws.ToString(u.UserName)]++
				order = append(order, aws.ToString(u.UserName))
				if u.CreateDate == nil || u.CreateDate.IsZero() || aws.ToString(u.Arn) == "" || aws.ToString(u.UserId) == "" {
					t.Fatalf("user %+v lacks fields", u)
				}
			}
		}
		if pages != tc.wantPages {
			t.Errorf("MaxItems %v: %d pages, want %d", aws.ToInt32(tc.maxItems), pages, tc.wantPages)
		}
		if len(seen) != len(gs) || len(order) != len(gs) {
			t.Fatalf("MaxItems %v: saw %d distinct / %d total users, want %d", aws.ToInt32(tc.maxItems), len(seen), len(order), len(gs))
		}
		for _, g := range gs {
			if seen[g.User.Name] != 1 {
				t.Fatalf("user %q seen %d times", g.User.Name, seen[g.User.Name])
			}
		}
		want := srv.Users(acctA)
		for i := range want {
			if want[i].Name != order[i] {
				t.Fatalf("order differs at %d: %q vs %q", i, order[i], want[i].Name)
			}
		}
		if got := srv.Calls(acctA)["ListUsers"]; got != tc.wantPages {
			t.Errorf("Calls ListUsers = %d, want %d", got, tc.wantPages)
		}
	}

	// MaxItems out of range is a ValidationError, as IAM answers.
	_, err := client.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1001)})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("MaxItems 1001: code %q", code)
	}
}

func TestCredentialReportLifecycleAndCSV(t *testing.T) {
	genAt := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	srv := newServer(t, Options{ReportReadyAfter: 2, Now: func() time.Time { return genAt }})
	ctx := ctxT(t)
	created := time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC)
	srv.AddUser(acctA, User{
		Name: "ann,o'neil+x=y@z", Created: created,
		Console: &Console{Created: created.Add(30 * time.Second)},
		Keys: []Key{
			{ID: "AKIAANNNEWER00000001", Created: created.Add(48 * time.Hour), LastUsed: created.Add(50 * time.Hour), LastUsedService: "s3"},
			{ID: "AKIAANNSETUP00000002", Created: created.Add(5 * time.Second)},
		},
	})
	srv.AddUser(acctA, User{Name: "bot", Created: created, Keys: []Key{{ID: "AKIABOT0000000000003", Created: created, Status: "Inactive"}}})
	client := iam.NewFromConfig(rawConfig(srv))

	_, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var notPresent *iamtypes.CredentialReportNotPresentException
	if !errors.As(err, &notPresent) || notPresent.ErrorCode() != "ReportNotPresent" || httpStatus(err) != 410 {
		t.Fatalf("before generation: %v (status %d), want ReportNotPresent 410", err, httpStatus(err))
	}

	gen, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || gen.State != iamtypes.ReportStateTypeStarted {
		t.Fatalf("Generate #1: %v %v", gen, err)
	}
	_, err = client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	var notReady *iamtypes.CredentialReportNotReadyException
	if !errors.As(err, &notReady) || notReady.ErrorCode() != "ReportInProgress" || httpStatus(err) != 404 {
		t.Fatalf("in progress: %v (status %d), want ReportInProgress 404", err, httpStatus(err))
	}
	gen, err = client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	if err != nil || gen.State != iamtypes.ReportStateTypeComplete {
		t.Fatalf("Generate #2 (2nd further call): %v %v", gen, err)
	}
	out, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.ReportFormat != iamtypes.ReportFormatTypeTextCsv || out.GeneratedTime == nil || !out.GeneratedTime.Equal(genAt) {
		t.Errorf("format %q generated %v, want text/csv %v", out.ReportFormat, out.GeneratedTime, genAt)
	}
	if bytes.HasPrefix(out.Content, []byte("dXNlc")) {
		t.Fatal("Content is still base64: the SDK should have decoded it")
	}
	rows, err := csv.NewReader(bytes.NewReader(out.Content)).ReadAll()
	if err != nil {
		t.Fatalf("content is not CSV: %v\n%s", err, out.Content)
	}
	if len(rows[0]) != 22 || strings.Join(rows[0], ",") != strings.Join(ReportColumns, ",") {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want header+root+2 users:\n%s", len(rows), out.Content)
	}
	for _, r := range rows {
		if len(r) != 22 {
			t.Fatalf("row with %d columns: %v", len(r), r)
		}
	}
	if rows[1][0] != "<root_account>" || rows[1][3] != "not_supported" {
		t.Errorf("root row %v", rows[1])
	}
	ann := rows[2]
	want := []string{"ann,o'neil+x=y@z", "arn:aws:iam::111111111111:user/ann,o'neil+x=y@z", "2020-03-04T05:06:07+00:00",
		"true", "no_information", "2020-03-04T05:06:37+00:00", "N/A", "false",
		"true", "2020-03-06T05:06:07+00:00", "2020-03-06T07:06:07+00:00", "N/A", "s3",
		"true", "2020-03-04T05:06:12+00:00", "N/A", "N/A", "N/A",
		"false", "N/A", "false", "N/A"}
	if strings.Join(ann, "|") != strings.Join(want, "|") {
		t.Errorf("ann row\n got %v\nwant %v", ann, want)
	}
	bot := rows[3]
	if bot[3] != "false" || bot[4] != "N/A" || bot[8] != "false" || bot[9] != "2020-03-04T05:06:07+00:00" || bot[13] != "false" || bot[14] != "N/A" {
		t.Errorf("bot row %v", bot)
	}
	for _, r := range rows[1:] {
		for _, i := range []int{2, 9, 14} {
			if r[i] == "N/A" || r[i] == "not_supported" {
				continue
			}
			if _, err := time.Parse("2006-01-02T15:04:05-07:00", r[i]); err != nil || !strings.HasSuffix(r[i], "+00:00") {
				t.Errorf("time %q: %v", r[i], err)
			}
		}
	}

	// The report is a snapshot: later changes do not show until a new report is made.
	srv.RemoveUser(acctA, "bot")
	out2, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil || !bytes.Equal(out2.Content, out.Content) {
		t.Errorf("report changed without regeneration: %v", err)
	}

	// LimitExceeded can be injected.
	srv.SetErrorHook(FailFirst(1, "LimitExceeded", "GenerateCredentialReport", acctA))
	srv.ResetReport(acctA)
	_, err = client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	var limit *iamtypes.LimitExceededException
	if !errors.As(err, &limit) || limit.ErrorCode() != "LimitExceeded" || httpStatus(err) != 409 {
		t.Fatalf("injected LimitExceeded: %v", err)
	}
	if f := srv.Faults(acctA)["GenerateCredentialReport"]; f != 1 {
		t.Errorf("Faults = %d", f)
	}
}

func TestReportSlotOrderAndRecordedReport(t *testing.T) {
	srv := newServer(t, Options{SlotOrder: SlotsOldestFirst, OmitRootRow: true})
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.AddUser(acctA, User{Name: "u", Created: created, Console: &Console{Created: created}, Keys: []Key{
		{ID: "AKIANEWER00000000001", Created: created.Add(time.Hour)},
		{ID: "AKIAOLDER00000000002", Created: created},
	}})
	keys := srv.Keys(acctA, "u")
	if len(keys) != 2 || keys[0].ID != "AKIAOLDER00000000002" || keys[0].Slot != 1 || keys[1].Slot != 2 {
		t.Fatalf("oldest first: %+v", keys)
	}
	rows, _ := csv.NewReader(bytes.NewReader(srv.Report(acctA))).ReadAll()
	if len(rows) != 2 || rows[1][9] != "2020-01-01T00:00:00+00:00" {
		t.Fatalf("report rows %v", rows)
	}

	// A recorded report can be served as is.
	rec, err := os.ReadFile("../../../../shared/data/recorded-2016-credential-report.csv")
	if err != nil {
		rec = []byte("user,arn\nx,y\n")
	}
	genAt := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	if err := srv.SetReport(acctA, rec, genAt); err != nil {
		t.Fatal(err)
	}
	out, err := iam.NewFromConfig(rawConfig(srv)).GetCredentialReport(ctxT(t), &iam.GetCredentialReportInput{})
	if err != nil || !bytes.Equal(out.Content, rec) || !out.GeneratedTime.Equal(genAt) {
		t.Fatalf("recorded report: %v", err)
	}
}

func TestThrottling(t *testing.T) {
	srv := newServer(t, Options{ThrottleRate: 1})
	ctx := ctxT(t)
	_, err := iam.NewFromConfig(rawConfig(srv)).ListUsers(ctx, &iam.ListUsersInput{})
	if err == nil {
		t.Fatal("no error at ThrottleRate 1")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" || ae.ErrorMessage() != "Rate exceeded" {
		t.Fatalf("error %v, want Throttling: Rate exceeded", err)
	}
	if s := httpStatus(err); s != 400 {
		t.Errorf("HTTP status %d, want 400", s)
	}
	std := retry.NewStandard()
	if !std.IsErrorRetryable(err) {
		t.Error("standard retryer does not retry Throttling")
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Error("Throttling is not classified as a throttle")
	}
	_, err = sts.NewFromConfig(rawConfig(srv)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if apiCode(t, err) != "Throttling" {
		t.Errorf("STS: %v", err)
	}
	_, err = organizations.NewFromConfig(rawConfig(srv)).ListAccounts(ctx, &organizations.ListAccountsInput{})
	var tmr *orgtypes.TooManyRequestsException
	if !errors.As(err, &tmr) || !std.IsErrorRetryable(err) {
		t.Errorf("Organizations throttling: %v", err)
	}

	// A partial rate with the standard retryer (no backoff): every call eventually succeeds,
	// and the number throttled is the same for the same seed.
	faults := func() int {
		s := newServer(t, Options{ThrottleRate: 0.3, Seed: 42})
		s.SeedUsers(acctA, GenerateOptions{N: 5})
		cfg := rawConfig(s)
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 20
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		}
		c := iam.NewFromConfig(cfg)
		for i := 0; i < 40; i++ {
			if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
				t.Fatalf("call %d with retries: %v", i, err)
			}
		}
		calls, f := s.Calls(acctA)["ListUsers"], s.Faults(acctA)["ListUsers"]
		if calls != 40+f {
			t.Errorf("calls %d != 40 + faults %d", calls, f)
		}
		return f
	}
	f1, f2 := faults(), faults()
	if f1 == 0 || f1 != f2 {
		t.Errorf("throttled %d then %d calls: want >0 and deterministic", f1, f2)
	}
}

func TestAssumeRoleScopesToTargetAccount(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := ctxT(t)
	srv.AddAccount(acctB, "b", "Workloads/Prod")
	srv.SeedUsers(acctA, GenerateOptions{Seed: 1, N: 5, Prefix: "a-"})
	srv.SeedUsers(acctB, GenerateOptions{Seed: 2, N: 120, Prefix: "b-"})

	base := rawConfig(srv)
	id, err := sts.NewFromConfig(base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != acctA || aws.ToString(id.Arn) != "arn:aws:iam::111111111111:user/admin" {
		t.Fatalf("base identity %+v %v", id, err)
	}

	cfgB := base
	cfgB.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base),
		"arn:aws:iam::"+acctB+":role/audit", func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "setupkeys" }))
	id, err = sts.NewFromConfig(cfgB).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != acctB || aws.ToString(id.Arn) != "arn:aws:sts::222222222222:assumed-role/audit/setupkeys" {
		t.Fatalf("assumed identity %+v %v", id, err)
	}
	creds, err := cfgB.Credentials.Retrieve(ctx)
	if err != nil || !strings.HasPrefix(creds.AccessKeyID, "ASIA"+acctB) || creds.SessionToken == "" || !creds.CanExpire {
		t.Fatalf("credentials %+v %v", creds, err)
	}

	n := 0
	p := iam.NewListUsersPaginator(iam.NewFromConfig(cfgB), &iam.ListUsersInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range out.Users {
			if !strings.Contains(aws.ToString(u.Arn), ":"+acctB+":") || strings.HasPrefix(aws.ToString(u.UserName), "a-") {
				t.Fatalf("user from another account: %s", aws.ToString(u.Arn))
			}
			n++
		}
	}
	if n != 120 {
		t.Errorf("B has %d users, want 120", n)
	}
	if got := srv.Calls(acctB); got["AssumeRole"] != 1 || got["ListUsers"] != 2 || got["GetCallerIdentity"] != 1 {
		t.Errorf("Calls(B) = %v", got)
	}
	if got := srv.Calls(acctA); got["AssumeRole"] != 0 || got["ListUsers"] != 0 || got["GetCallerIdentity"] != 1 {
		t.Errorf("Calls(A) = %v", got)
	}

	// A session key with the wrong session token is refused.
	bad := base
	bad.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "forged")
	_, err = iam.NewFromConfig(bad).ListUsers(ctx, &iam.ListUsersInput{})
	if apiCode(t, err) != "InvalidClientTokenId" || httpStatus(err) != 403 {
		t.Errorf("forged token: %v", err)
	}
}

func TestAssumeRoleDenied(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := ctxT(t)
	srv.AddAccountConfig(acctB, AccountConfig{Name: "b", DenyAssumeRole: true})
	srv.AddAccountConfig(acctC, AccountConfig{Name: "c", ExternalID: "xyzzy", RoleName: "audit"})
	client := sts.NewFromConfig(rawConfig(srv))
	assume := func(acct, role, ext string) error {
		in := &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/" + role), RoleSessionName: aws.String("s1")}
		if ext != "" {
			in.ExternalId = aws.String(ext)
		}
		_, err := client.AssumeRole(ctx, in)
		return err
	}
	for _, tc := range []struct{ acct, role, ext string }{
		{acctB, "audit", ""},          // denied per account
		{"444444444444", "audit", ""}, // no such account
		{acctC, "audit", ""},          // ExternalId missing
		{acctC, "audit", "wrong"},     // ExternalId wrong
		{acctC, "other", "xyzzy"},     // role name wrong
	} {
		err := assume(tc.acct, tc.role, tc.ext)
		if err == nil {
			t.Errorf("%+v: allowed", tc)
			continue
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || httpStatus(err) != 403 ||
			!strings.Contains(ae.ErrorMessage(), "not authorized to perform: sts:AssumeRole") {
			t.Errorf("%+v: %v, want AccessDenied 403", tc, err)
		}
	}
	if err := assume(acctC, "audit", "xyzzy"); err != nil {
		t.Errorf("right ExternalId: %v", err)
	}
	if got := srv.Calls(acctC)["AssumeRole"]; got != 4 {
		t.Errorf("Calls(C)[AssumeRole] = %d, want 4", got)
	}
	if err := srv.UpdateAccount(acctB, func(c *AccountConfig) { c.DenyAssumeRole = false }); err != nil {
		t.Fatal(err)
	}
	if err := assume(acctB, "audit", ""); err != nil {
		t.Errorf("after allowing: %v", err)
	}
}

func TestOrganizations(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := ctxT(t)
	seeded := srv.SeedOrganization(OrgSpec{Accounts: 45, UsersPerAccount: 2, SuspendedEvery: 10})
	client := organizations.NewFromConfig(rawConfig(srv))

	seen := map[string]orgtypes.Account{}
	pages := 0
	p := organizations.NewListAccountsPaginator(client, &organizations.ListAccountsInput{MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.Accounts {
			id := aws.ToString(a.Id)
			if _, dup := seen[id]; dup {
				t.Fatalf("account %s listed twice", id)
			}
			seen[id] = a
		}
	}
	if len(seen) != 46 || pages != 7 {
		t.Fatalf("%d accounts in %d pages, want 46 in 7", len(seen), pages)
	}
	suspended := 0
	for _, sa := range seeded {
		a, ok := seen[sa.ID]
		if !ok {
			t.Fatalf("account %s missing", sa.ID)
		}
		if string(a.Status) != sa.Status || string(a.State) != sa.Status || aws.ToString(a.Name) != sa.Name ||
			a.JoinedTimestamp == nil || a.JoinedTimestamp.Year() != 2020 || !strings.HasPrefix(aws.ToString(a.Arn), "arn:aws:organizations::111111111111:account/o-") {
			t.Errorf("account %+v vs seeded %+v", a, sa)
		}
		if a.Status == orgtypes.AccountStatusSuspended {
			suspended++
		}
	}
	if suspended != 4 {
		t.Errorf("%d suspended, want 4", suspended)
	}
	if got := srv.Calls(acctA)["ListAccounts"]; got != 7 {
		t.Errorf("Calls ListAccounts = %d", got)
	}

	// Walking the tree finds every account once.
	desc, err := client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil || aws.ToString(desc.Organization.MasterAccountId) != acctA || aws.ToString(desc.Organization.Id) != srv.OrganizationID() {
		t.Fatalf("DescribeOrganization %+v %v", desc, err)
	}
	roots, err := client.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 || aws.ToString(roots.Roots[0].Id) != srv.RootID() {
		t.Fatalf("ListRoots %+v %v", roots, err)
	}
	found := map[string]string{}
	var walk func(parent, path string)
	walk = func(parent, path string) {
		ap := organizations.NewListAccountsForParentPaginator(client, &organizations.ListAccountsForParentInput{ParentId: &parent, MaxResults: aws.Int32(5)})
		for ap.HasMorePages() {
			out, err := ap.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range out.Accounts {
				found[aws.ToString(a.Id)] = path
			}
		}
		op := organizations.NewListOrganizationalUnitsForParentPaginator(client, &organizations.ListOrganizationalUnitsForParentInput{ParentId: &parent})
		for op.HasMorePages() {
			out, err := op.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.OrganizationalUnits {
				walk(aws.ToString(o.Id), strings.TrimPrefix(path+"/"+aws.ToString(o.Name), "/"))
			}
		}
	}
	walk(srv.RootID(), "")
	if len(found) != 46 {
		t.Fatalf("tree walk found %d accounts", len(found))
	}
	for _, sa := range seeded {
		if found[sa.ID] != sa.OUPath {
			t.Errorf("account %s under %q, want %q", sa.ID, found[sa.ID], sa.OUPath)
		}
	}

	_, err = client.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-nope-12345678")})
	var pnf *orgtypes.ParentNotFoundException
	if !errors.As(err, &pnf) {
		t.Errorf("unknown parent: %v", err)
	}

	// A member account may not list accounts.
	member := organizations.NewFromConfig(srv.Config(seeded[0].ID), func(o *organizations.Options) { o.Retryer = aws.NopRetryer{} })
	_, err = member.ListAccounts(ctx, &organizations.ListAccountsInput{})
	var ade *orgtypes.AccessDeniedException
	if !errors.As(err, &ade) {
		t.Errorf("member ListAccounts: %v", err)
	}
	// A standalone account has no organization.
	solo := newServer(t, Options{NoOrganization: true})
	_, err = organizations.NewFromConfig(rawConfig(solo)).ListAccounts(ctx, &organizations.ListAccountsInput{})
	var notInUse *orgtypes.AWSOrganizationsNotInUseException
	if !errors.As(err, &notInUse) {
		t.Errorf("no organization: %v", err)
	}
}

func TestKeyActionsAndRemediation(t *testing.T) {
	srv := newServer(t, Options{})
	ctx := ctxT(t)
	srv.AddAccount(acctB, "b", "")
	created := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	srv.AddUser(acctB, User{Name: "carol", Created: created, Console: &Console{Created: created},
		Tags: []Tag{{"owner", "x"}, {"setupkeys:suppress", "reason"}, {"k3", "v3"}},
		Keys: []Key{
			{ID: "AKIACAROL00000000001", Created: created.Add(time.Minute)},
			{ID: "AKIACAROL00000000002", Created: created.Add(72 * time.Hour), LastUsed: time.Date(2022, 1, 1, 10, 11, 0, 0, time.UTC), LastUsedService: "ec2", LastUsedRegion: "eu-west-1"},
		}})
	srv.AddUser(acctB, User{Name: "dave", Created: created})
	cfg := srv.Config(acctB)
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	client := iam.NewFromConfig(cfg)

	lk, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("carol"), MaxItems: aws.Int32(1)})
	if err != nil || len(lk.AccessKeyMetadata) != 1 || !lk.IsTruncated || aws.ToString(lk.AccessKeyMetadata[0].AccessKeyId) != "AKIACAROL00000000001" ||
		!lk.AccessKeyMetadata[0].CreateDate.Equal(created.Add(time.Minute)) || lk.AccessKeyMetadata[0].Status != iamtypes.StatusTypeActive {
		t.Fatalf("ListAccessKeys page 1: %+v %v", lk, err)
	}
	lk, err = client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("carol"), Marker: lk.Marker})
	if err != nil || len(lk.AccessKeyMetadata) != 1 || lk.IsTruncated || aws.ToString(lk.AccessKeyMetadata[0].UserName) != "carol" {
		t.Fatalf("ListAccessKeys page 2: %+v %v", lk, err)
	}

	lu, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIACAROL00000000001")})
	if err != nil || aws.ToString(lu.UserName) != "carol" || lu.AccessKeyLastUsed.LastUsedDate != nil ||
		aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "N/A" || aws.ToString(lu.AccessKeyLastUsed.Region) != "N/A" {
		t.Fatalf("never used: %+v %v", lu.AccessKeyLastUsed, err)
	}
	lu, err = client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIACAROL00000000002")})
	if err != nil || lu.AccessKeyLastUsed.LastUsedDate == nil || lu.AccessKeyLastUsed.LastUsedDate.Format(time.RFC3339) != "2022-01-01T10:11:00Z" ||
		aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "ec2" {
		t.Fatalf("used: %+v %v", lu.AccessKeyLastUsed, err)
	}

	if _, err := client.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("carol")}); err != nil {
		t.Errorf("carol login profile: %v", err)
	}
	_, err = client.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("dave")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || httpStatus(err) != 404 || !strings.Contains(nse.ErrorMessage(), "dave") {
		t.Errorf("dave login profile: %v", err)
	}

	gu, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("carol")})
	if err != nil || len(gu.User.Tags) != 3 || aws.ToString(gu.User.Arn) != "arn:aws:iam::222222222222:user/carol" {
		t.Fatalf("GetUser %+v %v", gu, err)
	}
	tags := map[string]string{}
	tp := iam.NewListUserTagsPaginator(client, &iam.ListUserTagsInput{UserName: aws.String("carol"), MaxItems: aws.Int32(2)})
	for tp.HasMorePages() {
		out, err := tp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range out.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
	}
	if len(tags) != 3 || tags["setupkeys:suppress"] != "reason" {
		t.Errorf("tags %v", tags)
	}

	// Without UserName IAM acts on the calling user: carol's key is not the caller's.
	_, err = client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String("AKIACAROL00000000001"), Status: iamtypes.StatusTypeInactive})
	if !errors.As(err, &nse) {
		t.Errorf("UpdateAccessKey without UserName: %v", err)
	}
	_, err = client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("dave"), AccessKeyId: aws.String("AKIACAROL00000000001"), Status: iamtypes.StatusTypeInactive})
	if !errors.As(err, &nse) {
		t.Errorf("UpdateAccessKey with the wrong user: %v", err)
	}
	if _, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String("AKIACAROL00000000001"), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
	k, owner, ok := srv.Key(acctB, "AKIACAROL00000000001")
	if !ok || owner != "carol" || k.Status != "Inactive" || k.Slot != 1 {
		t.Errorf("after deactivation: %+v %q %v", k, owner, ok)
	}
	if _, err := client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String("AKIACAROL00000000002")}); err != nil {
		t.Fatalf("DeleteAccessKey: %v", err)
	}
	if _, _, ok := srv.Key(acctB, "AKIACAROL00000000002"); ok {
		t.Error("deleted key still there")
	}
	if ks := srv.Keys(acctB, "carol"); len(ks) != 1 || ks[0].Slot != 1 {
		t.Errorf("keys after delete %+v", ks)
	}
	rows, _ := csv.NewReader(bytes.NewReader(srv.Report(acctB))).ReadAll()
	if r := rows[2]; r[0] != "carol" || r[8] != "false" || r[13] != "false" || r[14] != "N/A" {
		t.Errorf("report after remediation: %v", r)
	}
	_, err = client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIACAROL00000000002")})
	if !errors.As(err, &nse) {
		t.Errorf("last used of deleted key: %v", err)
	}
	calls := srv.Calls(acctB)
	if calls["UpdateAccessKey"] != 3 || calls["DeleteAccessKey"] != 1 || calls["ListAccessKeys"] != 2 {
		t.Errorf("calls %v", calls)
	}

	// With role credentials, UserName is mandatory.
	roleCfg := rawConfig(srv)
	roleCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(rawConfig(srv)), "arn:aws:iam::"+acctB+":role/r"))
	_, err = iam.NewFromConfig(roleCfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if apiCode(t, err) != "ValidationError" {
		t.Errorf("ListAccessKeys without UserName as a role: %v", err)
	}

	sim, err := client.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::222222222222:role/r"),
		ActionNames:     []string{"iam:ListUsers", "iam:UpdateAccessKey"},
	})
	if err != nil || len(sim.EvaluationResults) != 2 || sim.EvaluationResults[1].EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed ||
		aws.ToString(sim.EvaluationResults[1].EvalActionName) != "iam:UpdateAccessKey" {
		t.Errorf("SimulatePrincipalPolicy %+v %v", sim, err)
	}
}

func TestSimulateDecisionConfigurable(t *testing.T) {
	srv := newServer(t, Options{SimulateDecision: func(acct, principal, action, resource string) string {
		if action == "iam:DeleteAccessKey" {
			return "implicitDeny"
		}
		return "allowed"
	}})
	sim, err := iam.NewFromConfig(rawConfig(srv)).SimulatePrincipalPolicy(ctxT(t), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::111111111111:user/admin"),
		ActionNames:     []string{"iam:UpdateAccessKey", "iam:DeleteAccessKey"},
		ResourceArns:    []string{"arn:aws:iam::111111111111:user/a", "arn:aws:iam::111111111111:user/b"},
	})
	if err != nil || len(sim.EvaluationResults) != 4 {
		t.Fatalf("%+v %v", sim, err)
	}
	for _, r := range sim.EvaluationResults {
		want := iamtypes.PolicyEvaluationDecisionTypeAllowed
		if aws.ToString(r.EvalActionName) == "iam:DeleteAccessKey" {
			want = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		}
		if r.EvalDecision != want {
			t.Errorf("%s on %s: %s", aws.ToString(r.EvalActionName), aws.ToString(r.EvalResourceName), r.EvalDecision)
		}
	}
}

func TestLatencyDoesNotSerialize(t *testing.T) {
	srv := newServer(t, Options{Latency: 200 * time.Millisecond})
	srv.SeedOrganization(OrgSpec{Accounts: 50, UsersPerAccount: 3})
	ctx := ctxT(t)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for _, acct := range srv.Accounts()[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := srv.Config(acct)
			_, err := iam.NewFromConfig(cfg).ListUsers(ctx, &iam.ListUsersInput{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 3*time.Second || el < 200*time.Millisecond {
		t.Errorf("50 concurrent calls with 200ms latency took %v", el)
	}
	if m := srv.MaxInFlight(); m < 10 {
		t.Errorf("MaxInFlight %d: calls did not overlap", m)
	}
	total := srv.TotalCalls()["ListUsers"]
	if total != 50 {
		t.Errorf("TotalCalls ListUsers = %d", total)
	}
}

func TestStartIsLoopbackOnly(t *testing.T) {
	s := NewUnstarted(Options{})
	if err := s.Start("0.0.0.0:0"); err == nil {
		s.Close()
		t.Fatal("started on a non-loopback address")
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", s.URL())
	}
}

func TestGenerateUsersDeterministicMix(t *testing.T) {
	a := GenerateUsers(GenerateOptions{Seed: 9, N: 100})
	b := GenerateUsers(GenerateOptions{Seed: 9, N: 100})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different users")
	}
	c := GenerateUsers(GenerateOptions{Seed: 10, N: 100})
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same users")
	}
	counts := map[Kind]int{}
	for _, g := range a {
		counts[g.Kind]++
		u := g.User
		for _, k := range u.Keys {
			gap := k.Created.Sub(u.Created)
			setup := gap >= 0 && gap <= 10*time.Minute
			switch g.Kind {
			case KindLaterKey:
				if setup {
					t.Errorf("%s: later key at setup", u.Name)
				}
			case KindSetupUnused, KindSetupUsed, KindSetupInactive, KindLegacySetupUnused, KindProgrammatic:
				if !setup {
					t.Errorf("%s (%s): key %v after user, not at setup", u.Name, g.Kind, gap)
				}
			}
		}
		if (g.Kind == KindProgrammatic) != (u.Console == nil) {
			t.Errorf("%s (%s): console %v", u.Name, g.Kind, u.Console)
		}
		if g.Kind == KindLegacySetupUnused && !u.Created.Before(time.Date(2015, 4, 22, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("legacy user created %v", u.Created)
		}
	}
	for k, w := range DefaultMix {
		if counts[k] != w { // DefaultMix sums to 100
			t.Errorf("kind %s: %d users, want %d", k, counts[k], w)
		}
	}
	if f, r := Tally(a); f != 18 || r != 2 {
		t.Errorf("Tally = %d fail %d review", f, r)
	}
}

// TestScale seeds 1,000 accounts x 100 users and audits a slice of them through the SDK, as
// the bench would.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srv := newServer(t, Options{})
	start := time.Now()
	seeded := srv.SeedOrganization(OrgSpec{Accounts: 1000, UsersPerAccount: 100, Seed: 1})
	t.Logf("seeded 1000x100 in %v", time.Since(start))
	ctx := ctxT(t)
	base := rawConfig(srv)
	stsc := sts.NewFromConfig(base)
	start = time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	rows := 0
	for _, sa := range seeded[:200] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cfg := base
			cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, "arn:aws:iam::"+sa.ID+":role/audit"))
			c := iam.NewFromConfig(cfg)
			if _, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
				t.Error(err)
				return
			}
			out, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
			if err != nil {
				t.Error(err)
				return
			}
			recs, err := csv.NewReader(bytes.NewReader(out.Content)).ReadAll()
			if err != nil || len(recs) != 102 {
				t.Errorf("%s: %d rows %v", sa.ID, len(recs), err)
			}
			mu.Lock()
			rows += len(recs)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("200 accounts assumed+reported in %v (%d rows)", time.Since(start), rows)
}

// TestLargeResponsesWithHTTPClient guards the workaround in HTTPClient: without it, about one
// call in a few hundred that returns more than 4 KiB fails with "use of closed network
// connection" under aws.NopRetryer.
func TestLargeResponsesWithHTTPClient(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SeedUsers(acctA, GenerateOptions{N: 100})
	cfg := srv.Config(acctA)
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	c := iam.NewFromConfig(cfg)
	ctx := ctxT(t)
	n := 600
	if testing.Short() {
		n = 100
	}
	for i := 0; i < n; i++ {
		out, err := c.ListUsers(ctx, &iam.ListUsersInput{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(out.Users) != 100 {
			t.Fatalf("call %d: %d users", i, len(out.Users))
		}
	}
}

func BenchmarkHandlerListUsers(b *testing.B) {
	srv := NewUnstarted(Options{})
	srv.SeedUsers(acctA, GenerateOptions{N: 100})
	body := "Action=ListUsers&Version=2010-05-08"
	for b.Loop() {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDX/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkSDKListUsersParallel(b *testing.B) {
	srv := New(Options{})
	defer srv.Close()
	srv.SeedUsers(acctA, GenerateOptions{N: 100})
	c := iam.NewFromConfig(srv.Config(acctA))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.ListUsers(context.Background(), &iam.ListUsersInput{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
