package source

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

// seedScenario makes, in the account of cfg, the users every live source must judge the same way,
// and returns the key IDs that must fail. Users and setup keys are made 200 days ago.
func seedScenario(t *testing.T, srv *moto.Server, cfg aws.Config) (fail []string) {
	t.Helper()
	client := iam.NewFromConfig(cfg)
	srv.InPast(t, 200*24*time.Hour, func() {
		// A console user whose setup key was never used: fail.
		moto.CreateConsoleUser(t, cfg, "alice")
		fail = append(fail, aws.ToString(moto.CreateAccessKey(t, cfg, "alice").AccessKeyId))
		// A console user whose setup key was used: pass.
		moto.CreateConsoleUser(t, cfg, "bob")
		srv.UseKey(t, moto.CreateAccessKey(t, cfg, "bob"))
		// A console user whose key came later (below): pass.
		moto.CreateConsoleUser(t, cfg, "carol")
		// A programmatic user with an unused setup key: no finding.
		moto.CreateProgrammaticUser(t, cfg, "deploy")
		moto.CreateAccessKey(t, cfg, "deploy")
		// A console user whose unused setup key is inactive: no finding.
		moto.CreateConsoleUser(t, cfg, "dave")
		k := moto.CreateAccessKey(t, cfg, "dave")
		if _, err := client.UpdateAccessKey(context.Background(), &iam.UpdateAccessKeyInput{
			UserName: aws.String("dave"), AccessKeyId: k.AccessKeyId, Status: types.StatusTypeInactive,
		}); err != nil {
			t.Fatal(err)
		}
		// A console user with two unused setup keys, likely in the same second: both fail,
		// each with its own ID.
		moto.CreateConsoleUser(t, cfg, "gina")
		for range 2 {
			fail = append(fail, aws.ToString(moto.CreateAccessKey(t, cfg, "gina").AccessKeyId))
		}
	})
	srv.InPast(t, 170*24*time.Hour, func() {
		moto.CreateAccessKey(t, cfg, "carol") // 30 days after carol
	})
	slices.Sort(fail)
	return fail
}

// flaggedKeys returns the sorted key IDs of the fail and review findings; a flagged finding
// without a key ID fails the test.
func flaggedKeys(t *testing.T, res setupkeys.AccountResult) []string {
	t.Helper()
	var ids []string
	for _, f := range res.Findings {
		if f.Status == setupkeys.StatusPass {
			continue
		}
		if f.Status != setupkeys.StatusFail || f.AccessKeyID == nil {
			t.Errorf("%s: %s/%d status %s key %v", res.Source.Kind, f.User, f.KeySlot, f.Status, f.AccessKeyID)
			continue
		}
		ids = append(ids, *f.AccessKeyID)
	}
	slices.Sort(ids)
	return ids
}

func passingUsers(res setupkeys.AccountResult) []string {
	var users []string
	for _, f := range res.Findings {
		if f.Status == setupkeys.StatusPass {
			users = append(users, f.User)
		}
	}
	slices.Sort(users)
	return users
}

// TestLiveSourcesAgainstMoto runs both live sources against a real IAM emulator, configured as a
// user would be (environment credentials, AWS_ENDPOINT_URL), and checks they find the same setup
// keys with the same real key IDs.
func TestLiveSourcesAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	seed := srv.Config(t, moto.DefaultAccountID)
	wantFail := seedScenario(t, srv, seed)

	for _, kv := range srv.Env(t, moto.DefaultAccountID) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	account, _, err := awsconfig.CallerAccount(ctx, cfg)
	if err != nil || account != moto.DefaultAccountID {
		t.Fatalf("CallerAccount = %q, %v", account, err)
	}
	client := iam.NewFromConfig(cfg)

	for _, keep := range []bool{false, true} {
		calls := counting(client)
		opts := LiveOptions{PollInterval: 20 * time.Millisecond}
		opts.KeepPassing = keep
		rep, err := liveReport(ctx, calls, account, opts)
		if err != nil {
			t.Fatalf("LiveReport: %v", err)
		}
		t.Logf("LiveReport (all=%v): %d users, calls %s", keep, rep.Users, calls)
		if got := calls.Get(ActionListAccessKeys); got != 2 { // alice and gina
			t.Errorf("LiveReport: %d ListAccessKeys calls, want one per flagged user (2)", got)
		}
		if got := calls.Get(ActionGetLoginProfile); got != 2 { // alice and gina
			t.Errorf("LiveReport: %d GetLoginProfile calls, want one per flagged user (2)", got)
		}
		if got := calls.Get(ActionGetAccessKeyLastUsed); got != len(wantFail) {
			t.Errorf("LiveReport: %d GetAccessKeyLastUsed calls, want one per flagged key (%d)", got, len(wantFail))
		}
		if n := calls.Get(ActionGenerateCredentialReport) + calls.Get(ActionGetCredentialReport); n > 4 {
			t.Errorf("LiveReport: %d report calls", n)
		}

		exactCalls := counting(client)
		exactOpts := LiveOptions{}
		exactOpts.KeepPassing = keep
		exact, err := liveExact(ctx, exactCalls, account, exactOpts)
		if err != nil {
			t.Fatalf("LiveExact: %v", err)
		}
		t.Logf("LiveExact (all=%v): %d users, calls %s", keep, exact.Users, exactCalls)

		for _, res := range []setupkeys.AccountResult{rep, exact} {
			if got := flaggedKeys(t, res); !slices.Equal(got, wantFail) {
				t.Errorf("%s: flagged keys %v, want %v", res.Source.Kind, got, wantFail)
			}
			if res.Passed != 2 {
				t.Errorf("%s: Passed = %d, want 2 (bob, carol)", res.Source.Kind, res.Passed)
			}
			wantPass := []string(nil)
			if keep {
				wantPass = []string{"bob", "carol"}
			}
			if got := passingUsers(res); !slices.Equal(got, wantPass) {
				t.Errorf("%s: passing findings for %v, want %v", res.Source.Kind, got, wantPass)
			}
			if res.AccountID != moto.DefaultAccountID || res.Users != 6 {
				t.Errorf("%s: account %q users %d", res.Source.Kind, res.AccountID, res.Users)
			}
			for _, f := range res.Findings {
				if f.AccountID != moto.DefaultAccountID {
					t.Errorf("%s: %s in account %q", res.Source.Kind, f.User, f.AccountID)
				}
				if f.Status == setupkeys.StatusFail && (f.GapSeconds < -1 || f.GapSeconds > 5 || f.LastUsed != nil) {
					t.Errorf("%s: %s/%d gap %ds last used %v", res.Source.Kind, f.User, f.KeySlot, f.GapSeconds, f.LastUsed)
				}
				if f.User == "bob" && (f.LastUsed == nil || time.Since(*f.LastUsed) < 199*24*time.Hour) {
					t.Errorf("%s: bob's key last used %v, want about 200 days ago", res.Source.Kind, f.LastUsed)
				}
			}
		}
		// The same keys get the same finding IDs from both sources.
		ids := func(res setupkeys.AccountResult) []string {
			var out []string
			for _, f := range res.Findings {
				out = append(out, f.ID+" "+f.User)
			}
			slices.Sort(out)
			return out
		}
		if !slices.Equal(ids(rep), ids(exact)) {
			t.Errorf("finding IDs differ:\nreport %v\nexact  %v", ids(rep), ids(exact))
		}
		if rep.Source.GeneratedTime == nil {
			t.Error("LiveReport: no GeneratedTime")
		}
	}
}

// A key deactivated or used after the findings were made is re-checked live: the report path
// drops or passes it. moto rebuilds its report on every read, so this checks that the re-check
// agrees with fresh data rather than simulating a stale report (the unit tests do that).
func TestLiveReportRechecksAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	wantFail := seedScenario(t, srv, cfg)
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()

	// alice's key is used now; one of gina's is deactivated.
	var aliceKey string
	srv.UseKey(t, func() types.AccessKey {
		out, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		aliceKey = aws.ToString(out.AccessKeyMetadata[0].AccessKeyId)
		// UseKey needs the secret; moto never checks signatures, so any secret will do.
		return types.AccessKey{AccessKeyId: out.AccessKeyMetadata[0].AccessKeyId, SecretAccessKey: aws.String("x")}
	}())
	ginaOut, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("gina")})
	if err != nil {
		t.Fatal(err)
	}
	off := aws.ToString(ginaOut.AccessKeyMetadata[0].AccessKeyId)
	if _, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("gina"), AccessKeyId: &off, Status: types.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(wantFail), func(id string) bool { return id == aliceKey || id == off })

	res, err := liveReport(ctx, client, moto.DefaultAccountID, LiveOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := flaggedKeys(t, res); !slices.Equal(got, want) {
		t.Errorf("flagged %v, want %v", got, want)
	}
	// A second account is audited on its own: its users do not leak into the first.
	other := srv.Config(t, "210987654321")
	moto.CreateConsoleUser(t, other, "zed")
	zedKey := aws.ToString(moto.CreateAccessKey(t, other, "zed").AccessKeyId)
	res2, err := liveReport(ctx, iam.NewFromConfig(other), "210987654321", LiveOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := flaggedKeys(t, res2); !slices.Equal(got, []string{zedKey}) || res2.Users != 1 || res2.Findings[0].AccountID != "210987654321" {
		t.Errorf("second account: flagged %v, users %d", got, res2.Users)
	}
}

// pinnedReport serves one credential report read earlier, as AWS does for up to 4 hours; moto
// rebuilds its report on every read, so a change made after the report would show in it.
type pinnedReport struct {
	*iam.Client
	report *iam.GetCredentialReportOutput
}

func (p pinnedReport) GetCredentialReport(context.Context, *iam.GetCredentialReportInput, ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	return p.report, nil
}

// A console password deleted after the report was made is re-checked live: the user's findings
// go, with a warning, and an untouched user's stay.
func TestLiveReportRechecksPasswordAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	wantFail := seedScenario(t, srv, cfg)
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()

	if _, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
		t.Fatal(err)
	}
	report, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	aliceKeys, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	aliceKey := aws.ToString(aliceKeys.AccessKeyMetadata[0].AccessKeyId)
	if _, err := client.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}

	// The pinned report still says alice has a password: without the re-check she would be
	// flagged.
	pinned, err := fromReport(bytes.NewReader(report.Content), "report", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pinned.Findings, func(f setupkeys.Finding) bool { return f.User == "alice" }) {
		t.Fatalf("the pinned report does not flag alice: %v", statusByKey(pinned.Findings))
	}

	calls := counting(pinnedReport{Client: client, report: report})
	res, err := liveReport(ctx, calls, moto.DefaultAccountID, LiveOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(wantFail), func(id string) bool { return id == aliceKey })
	if got := flaggedKeys(t, res); !slices.Equal(got, want) || len(want) != 2 {
		t.Errorf("flagged %v, want gina's %v", got, want)
	}
	if !hasWarning(res.Warnings, "user alice no longer has a console password (since the report): not flagged") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if got := calls.Get(ActionGetLoginProfile); got != 2 { // alice and gina
		t.Errorf("%d GetLoginProfile calls, want 2 (calls %s)", got, calls)
	}
	if got := calls.Get(ActionGetAccessKeyLastUsed); got != 2 { // gina's keys only
		t.Errorf("%d GetAccessKeyLastUsed calls, want 2 (calls %s)", got, calls)
	}
}
