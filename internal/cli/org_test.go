package cli

import (
	"encoding/json"
	"testing"

	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
)

// TestAuditOrgWithFake runs `setupkeys audit --org` through the real SDK against the wire-protocol
// fake: three members, one of which denies AssumeRole, under a throttling storm. The denied account
// is an error in the output, the others are complete and exact, and the exit code is 3 because
// keys failed (the summary still counts the errored account).
func TestAuditOrgWithFake(t *testing.T) {
	srv := fakeaws.New(fakeaws.Options{Seed: 7, ThrottleRate: 0.2, ReportReadyAfter: 1})
	t.Cleanup(srv.Close)
	mgmt := srv.ManagementAccount()
	srv.AddAccount(mgmt, "management", "")
	wantFail := map[string]int{}
	for _, acct := range []string{"222222222222", "333333333333", "444444444444"} {
		srv.AddAccount(acct, "member-"+acct[:1], "Workloads")
	}
	if err := srv.UpdateAccount("444444444444", func(c *fakeaws.AccountConfig) { c.DenyAssumeRole = true }); err != nil {
		t.Fatal(err)
	}
	for i, acct := range []string{mgmt, "222222222222", "333333333333"} {
		for _, g := range srv.SeedUsers(acct, fakeaws.GenerateOptions{Seed: int64(i), N: 40}) {
			f, _ := g.Kind.Expect()
			wantFail[acct] += f
		}
	}
	if wantFail[mgmt] == 0 || wantFail["222222222222"] == 0 {
		t.Fatalf("the seeded users should include failing keys: %v", wantFail)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", fakeaws.AccessKeyFor(mgmt))
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fakeaws-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	code, out, errOut := runCLI(t, "", "audit", "--org", "--endpoint-url", srv.URL(), "--format", "json", "--quiet")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 3; stderr %s", code, errOut)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Accounts != 4 || doc.Summary.AccountsErrored != 1 {
		t.Errorf("summary %+v, want 4 accounts, 1 errored", doc.Summary)
	}
	for _, a := range doc.Accounts {
		switch a.AccountID {
		case "444444444444":
			if a.Status != "error" || a.Error == "" {
				t.Errorf("denied account: %+v", a)
			}
		default:
			if a.Status != "ok" || a.Fail != wantFail[a.AccountID] || a.AccountName == "" {
				t.Errorf("account %s: %+v, want ok with %d fails", a.AccountID, a, wantFail[a.AccountID])
			}
		}
	}
	for _, f := range doc.Findings {
		if f.Status == "fail" && (f.AccessKeyID == nil || f.AccountID == "" || f.AccountName == "") {
			t.Errorf("finding without its key ID or account: %+v", f)
		}
	}

	// Without the failing keys' accounts, the errored account alone makes the run incomplete: 1.
	code, _, _ = runCLI(t, "", "audit", "--accounts", "444444444444", "--endpoint-url", srv.URL(), "--format", "json", "--quiet")
	if code != ExitError {
		t.Errorf("only the denied account: exit %d, want 1", code)
	}
}

func TestOrgFlagsValidation(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--accounts", "12345"}, "12345"},
		{[]string{"--exclude-accounts", "123456789012"}, "--exclude-accounts needs"},
		{[]string{"--org", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"--org", "--report", "r.csv"}, "need a live audit"},
		{[]string{"--org", "--role-arn-template", "arn:aws:iam::1:role/x"}, "{account}"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"audit"}, tt.args...)...)
		if code != ExitBadInput || !contains(errOut, tt.want) {
			t.Errorf("%v: exit %d %q, want 2 with %q", tt.args, code, errOut, tt.want)
		}
	}
}
