package moto_test

// These tests pin the moto behaviours NOTES.md describes, so the notes fail
// loudly instead of going stale when moto changes. They document moto, not
// AWS: the audit must not depend on the ones marked as differences.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

var reportColumns = []string{
	"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
}

func TestNotesReportGeneration(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()

	_, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	assertAPIError(t, "GetCredentialReport before any Generate", err, "ReportNotPresent")

	var states []types.ReportStateType
	for range 2 {
		out, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, out.State)
	}
	if states[0] != types.ReportStateTypeStarted || states[1] != types.ReportStateTypeComplete {
		t.Errorf("GenerateCredentialReport states = %v, want [STARTED COMPLETE]", states)
	}

	// The report is built on every Get, not snapshotted at Generate time,
	// and GeneratedTime is a constant.
	moto.CreateConsoleUser(t, cfg, "late")
	out, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Content), "\nlate,") {
		t.Errorf("a user created after Generate is missing from the report:\n%s", out.Content)
	}
	if got, want := aws.ToTime(out.GeneratedTime), time.Date(2015, 2, 2, 20, 2, 2, 0, time.UTC); !got.Equal(want) {
		t.Errorf("GeneratedTime = %v, want moto's constant %v", got, want)
	}
	if out.ReportFormat != types.ReportFormatTypeTextCsv {
		t.Errorf("ReportFormat = %q", out.ReportFormat)
	}

	// Reset forgets the report too.
	srv.Reset(t)
	_, err = client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	assertAPIError(t, "GetCredentialReport after Reset", err, "ReportNotPresent")
}

func TestNotesReportColumns(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	moto.CreateConsoleUser(t, cfg, "alice")
	key := moto.CreateAccessKey(t, cfg, "alice")
	srv.UseKey(t, key)
	moto.CreateProgrammaticUser(t, cfg, "bot")

	_, header, records := credentialReportRaw(t, cfg)
	if strings.Join(header, ",") != strings.Join(reportColumns, ",") {
		t.Errorf("header = %v\nwant     %v", header, reportColumns)
	}
	if len(records) != 2 {
		t.Fatalf("report has %d rows, want 2 (no <root_account> row in moto)", len(records))
	}
	rows := credentialReport(t, cfg)
	for _, tc := range []struct {
		user, col, want string
	}{
		{"alice", "password_last_used", "no_information"},
		{"alice", "password_last_changed", rows["alice"]["user_creation_time"]},
		{"alice", "password_next_rotation", "not_supported"},
		{"alice", "mfa_active", "false"},
		{"alice", "access_key_1_last_used_region", "not_supported"},
		{"alice", "access_key_1_last_used_service", "not_supported"},
		{"alice", "access_key_2_last_used_region", "not_supported"},
		{"alice", "cert_1_active", "false"},
		{"alice", "cert_1_last_rotated", "N/A"},
		{"bot", "password_enabled", "false"},
		{"bot", "password_last_used", "not_supported"},
		{"bot", "password_last_changed", rows["bot"]["user_creation_time"]},
		{"bot", "access_key_1_active", "false"},
		{"bot", "access_key_1_last_rotated", "N/A"},
		{"bot", "access_key_1_last_used_date", "N/A"},
	} {
		if got := rows[tc.user][tc.col]; got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.user, tc.col, got, tc.want)
		}
	}
	if got := rows["alice"]["user_creation_time"]; !strings.HasSuffix(got, "+00:00") || strings.Contains(got, ".") {
		t.Errorf("user_creation_time = %q, want whole seconds with +00:00", got)
	}
}

// The API's CreateDate keeps moto's microseconds; the report truncates them.
// A matcher must truncate CreateDate to the second, not round it.
func TestNotesCreateDatePrecision(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	moto.CreateConsoleUser(t, cfg, "alice")
	var keys []types.AccessKey
	for range 2 {
		keys = append(keys, moto.CreateAccessKey(t, cfg, "alice"))
	}
	row := credentialReport(t, cfg)["alice"]
	fractional := false
	for i, k := range keys {
		created := aws.ToTime(k.CreateDate)
		fractional = fractional || created.Nanosecond() != 0
		col := []string{"access_key_1_last_rotated", "access_key_2_last_rotated"}[i]
		if got, want := row[col], created.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05+00:00"); got != want {
			t.Errorf("%s = %s, want CreateDate truncated: %s (CreateDate %s)", col, got, want, created.Format(time.RFC3339Nano))
		}
	}
	if !fractional {
		t.Errorf("both keys' CreateDate are whole seconds; NOTES.md says moto keeps sub-second precision")
	}
}

func TestNotesAccessKeys(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()
	moto.CreateConsoleUser(t, cfg, "alice")
	first := moto.CreateAccessKey(t, cfg, "alice")
	second := moto.CreateAccessKey(t, cfg, "alice")

	if !strings.HasPrefix(aws.ToString(first.AccessKeyId), "AKIA") || len(aws.ToString(first.AccessKeyId)) != 20 {
		t.Errorf("access key ID %q, want AKIA + 16", aws.ToString(first.AccessKeyId))
	}
	_, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	assertAPIError(t, "third key", err, "LimitExceeded")

	// ListAccessKeys ignores MaxItems: one page, never truncated.
	out, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice"), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AccessKeyMetadata) != 2 || out.IsTruncated {
		t.Errorf("ListAccessKeys(MaxItems=1) = %d keys, truncated %v; want 2, false", len(out.AccessKeyMetadata), out.IsTruncated)
	}

	// Never used: no LastUsedDate, ServiceName and Region "N/A".
	never := lastUsed(t, cfg, second)
	if never.LastUsedDate != nil || aws.ToString(never.ServiceName) != "N/A" || aws.ToString(never.Region) != "N/A" {
		t.Errorf("unused key: %+v, want no date, N/A, N/A", never)
	}

	// An inactive key keeps its date in the report; only active flips.
	if _, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String("alice"), AccessKeyId: first.AccessKeyId, Status: types.StatusTypeInactive,
	}); err != nil {
		t.Fatal(err)
	}
	row := credentialReport(t, cfg)["alice"]
	if row["access_key_1_active"] != "false" || row["access_key_1_last_rotated"] == "N/A" {
		t.Errorf("inactive slot 1: active %q last_rotated %q", row["access_key_1_active"], row["access_key_1_last_rotated"])
	}

	// Deleting the key in slot 1 moves the other key into slot 1.
	secondRotated := row["access_key_2_last_rotated"]
	if _, err := client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: first.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	row = credentialReport(t, cfg)["alice"]
	if row["access_key_1_last_rotated"] != secondRotated || row["access_key_1_active"] != "true" ||
		row["access_key_2_last_rotated"] != "N/A" || row["access_key_2_active"] != "false" {
		t.Errorf("after deleting slot 1: slot 1 %s/%s, slot 2 %s/%s; want the second key in slot 1 and slot 2 empty",
			row["access_key_1_active"], row["access_key_1_last_rotated"], row["access_key_2_active"], row["access_key_2_last_rotated"])
	}

	_, err = client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: first.AccessKeyId})
	assertAPIError(t, "GetAccessKeyLastUsed of a deleted key", err, "NoSuchEntity")
}

func TestNotesLoginProfile(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	client := iam.NewFromConfig(cfg)
	moto.CreateProgrammaticUser(t, cfg, "bot")
	moto.CreateConsoleUser(t, cfg, "alice")

	_, err := client.GetLoginProfile(context.Background(), &iam.GetLoginProfileInput{UserName: aws.String("bot")})
	assertAPIError(t, "GetLoginProfile without a password", err, "NoSuchEntity")
	out, err := client.GetLoginProfile(context.Background(), &iam.GetLoginProfileInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if out.LoginProfile.CreateDate == nil {
		t.Error("LoginProfile.CreateDate is nil")
	}
}

func TestNotesListUsersIgnoresMaxItems(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	for _, n := range []string{"a", "b", "c"} {
		moto.CreateProgrammaticUser(t, cfg, n)
	}
	out, err := iam.NewFromConfig(cfg).ListUsers(context.Background(), &iam.ListUsersInput{MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Users) != 3 || out.IsTruncated {
		t.Errorf("ListUsers(MaxItems=1) = %d users, truncated %v; want 3, false (moto does not paginate)", len(out.Users), out.IsTruncated)
	}
}

// moto joins report fields with commas and no quoting, so a user name with a
// comma (legal in IAM) shifts the row. Keep commas out of names in moto tests.
func TestNotesCommaInUserNameBreaksReport(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	moto.CreateConsoleUser(t, cfg, "last,first")
	out, err := iam.NewFromConfig(cfg).GetCredentialReport(context.Background(), &iam.GetCredentialReportInput{})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ReportNotPresent" {
		if _, err := iam.NewFromConfig(cfg).GenerateCredentialReport(context.Background(), &iam.GenerateCredentialReportInput{}); err != nil {
			t.Fatal(err)
		}
		out, err = iam.NewFromConfig(cfg).GetCredentialReport(context.Background(), &iam.GetCredentialReportInput{})
	}
	if err != nil {
		t.Fatal(err)
	}
	// The name's comma appears twice (user and arn), unquoted: 24 fields
	// under a 22-column header, which a strict CSV reader rejects.
	_, err = csv.NewReader(bytes.NewReader(out.Content)).ReadAll()
	if !errors.Is(err, csv.ErrFieldCount) {
		t.Errorf("reading moto's report with a comma in a user name: err = %v, want csv.ErrFieldCount\n%s", err, out.Content)
	}
	lines := strings.Split(strings.TrimSpace(string(out.Content)), "\n")
	if got := strings.Count(lines[1], ",") + 1; got != len(reportColumns)+2 {
		t.Errorf("row %q has %d fields, want %d", lines[1], got, len(reportColumns)+2)
	}
}

// Organizations: CreateAccount succeeds at once, and the new account is
// reached by assuming a role in it (moto also creates
// OrganizationAccountAccessRole there, though AssumeRole needs no role).
func TestNotesOrganizations(t *testing.T) {
	srv := moto.Shared(t)
	mgmt := srv.Config(t, moto.DefaultAccountID)
	org := organizations.NewFromConfig(mgmt)
	ctx := context.Background()

	// Without an organization AWS fails ListAccounts with
	// AWSOrganizationsNotInUseException; moto returns no accounts.
	_, err := org.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	assertAPIError(t, "DescribeOrganization before CreateOrganization", err, "AWSOrganizationsNotInUseException")
	if out, err := org.ListAccounts(ctx, &organizations.ListAccountsInput{}); err != nil || len(out.Accounts) != 0 {
		t.Errorf("ListAccounts before CreateOrganization = %v, %v; want no accounts and no error", out, err)
	}
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	var created []string
	for _, name := range []string{"dev", "prod"} {
		out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		st := out.CreateAccountStatus
		if st.State != orgtypes.CreateAccountStateSucceeded || aws.ToString(st.AccountId) == "" {
			t.Errorf("CreateAccount(%s) status %s, account %q; want SUCCEEDED at once with an ID", name, st.State, aws.ToString(st.AccountId))
		}
		created = append(created, aws.ToString(st.AccountId))
	}

	// ListAccounts includes the management account and honours MaxResults.
	var ids []string
	pages := 0
	p := organizations.NewListAccountsPaginator(org, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range page.Accounts {
			ids = append(ids, aws.ToString(a.Id))
			if a.State != orgtypes.AccountStateActive {
				t.Errorf("account %s state %q", aws.ToString(a.Id), a.State)
			}
		}
	}
	if want := append([]string{moto.DefaultAccountID}, created...); strings.Join(ids, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("ListAccounts(MaxResults=1) = %v in %d pages, want %v in 3", ids, pages, want)
	}

	dev := srv.Config(t, created[0])
	moto.CreateConsoleUser(t, dev, "dev-admin")
	role, err := iam.NewFromConfig(dev).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OrganizationAccountAccessRole")})
	if err != nil {
		t.Fatalf("GetRole OrganizationAccountAccessRole in the new account: %v", err)
	}
	if arn := aws.ToString(role.Role.Arn); !strings.Contains(arn, ":"+created[0]+":") {
		t.Errorf("role ARN %s is not in account %s", arn, created[0])
	}
	if users := listUsers(t, mgmt); len(users) != 0 {
		t.Errorf("management account sees %d users; the member's user leaked", len(users))
	}
	if users := listUsers(t, dev); len(users) != 1 {
		t.Errorf("member account has %d users, want 1", len(users))
	}

	// From the member account: DescribeOrganization names the management
	// account; ListAccounts returns nothing (AWS: AccessDenied for a member).
	memberOrg := organizations.NewFromConfig(dev)
	desc, err := memberOrg.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		t.Fatalf("DescribeOrganization from the member: %v", err)
	}
	if got := aws.ToString(desc.Organization.MasterAccountId); got != moto.DefaultAccountID {
		t.Errorf("member sees management account %q", got)
	}
	if out, err := memberOrg.ListAccounts(ctx, &organizations.ListAccountsInput{}); err != nil || len(out.Accounts) != 0 {
		t.Errorf("ListAccounts from the member = %v, %v; want no accounts and no error", out, err)
	}
}

// moto answers GetAccessKeyLastUsed for a key of any account, from any
// account; AWS answers only for keys of the caller's account.
func TestNotesLastUsedAcrossAccounts(t *testing.T) {
	srv := moto.Shared(t)
	other := srv.Config(t, otherAccount)
	moto.CreateConsoleUser(t, other, "alice")
	key := moto.CreateAccessKey(t, other, "alice")
	out, err := iam.NewFromConfig(srv.Config(t, moto.DefaultAccountID)).GetAccessKeyLastUsed(context.Background(),
		&iam.GetAccessKeyLastUsedInput{AccessKeyId: key.AccessKeyId})
	if err != nil {
		t.Fatalf("GetAccessKeyLastUsed from another account: %v", err)
	}
	if aws.ToString(out.UserName) != "alice" {
		t.Errorf("UserName = %q", aws.ToString(out.UserName))
	}
}

func assertAPIError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
		t.Errorf("%s: err = %v, want API error %s", what, err, code)
	}
}
