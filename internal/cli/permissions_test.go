package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
	"github.com/setupkeys/setupkeys/policies"
)

// useWireFake points the SDK's credential chain and endpoint at the wire fake, as the management
// account. These tests use the wire fake, not the in-memory IAM, because what they check is how
// the real SDK reports a role that cannot be assumed: lazily, under the first call that needs it.
func useWireFake(t *testing.T, srv *fakeaws.Server) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", fakeaws.AccessKeyFor(srv.ManagementAccount()))
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fakeaws-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL())
}

// permissionRows maps "ACCOUNT-ID ACTION" to the rest of each row of check-permissions --org
// (the account's name, in parentheses after its ID, left out).
func permissionRows(out string) map[string]string {
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], "(") {
			f = append(f[:1], f[2:]...)
		}
		if len(f) >= 3 {
			rows[f[0]+" "+f[1]] = strings.Join(f[2:], " ")
		}
	}
	return rows
}

// check-permissions --org through the real SDK against the wire fake: the caller's listing, then
// each member through the role. One member refuses the role, another's role is denied
// iam:ListUserTags by the simulator: each gets its row and its fix, and the run exits 1.
func TestCheckPermissionsOrgWithFake(t *testing.T) {
	const refusing, limited, fine = "222222222222", "333333333333", "444444444444"
	srv := fakeaws.New(fakeaws.Options{SimulateDecision: func(account, _, action, _ string) string {
		if account == limited && action == "iam:ListUserTags" {
			return "implicitDeny"
		}
		return "allowed"
	}})
	t.Cleanup(srv.Close)
	mgmt := srv.ManagementAccount()
	srv.AddAccount(mgmt, "management", "")
	for _, id := range []string{refusing, limited, fine} {
		srv.AddAccount(id, "m-"+id[:1], "")
	}
	srv.AddAccountConfig("555555555555", fakeaws.AccountConfig{Name: "gone", Status: "SUSPENDED"})
	if err := srv.UpdateAccount(refusing, func(c *fakeaws.AccountConfig) { c.DenyAssumeRole = true }); err != nil {
		t.Fatal(err)
	}
	useWireFake(t, srv)

	code, out, errOut := runCLI(t, "", "check-permissions", "--org", "--role-name", "Auditor", "--quiet")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	rows := permissionRows(out)
	role := func(id string) string { return "arn:aws:iam::" + id + ":role/Auditor" }
	for key, want := range map[string]string{
		"caller organizations:ListAccounts":        "allowed dry-call read succeeded",
		mgmt + " iam:ListUserTags":                 "allowed simulation",
		mgmt + " iam:GenerateCredentialReport":     "allowed simulation",
		mgmt + " sts:AssumeRole":                   "", // the caller's own account: its own credentials
		refusing + " sts:AssumeRole":               "denied dry-call " + role(refusing) + " refused (AccessDenied): the caller may not assume it, or the role does not trust the caller or does not exist",
		refusing + " iam:GenerateCredentialReport": "", // not checkable without the role
		limited + " sts:AssumeRole":                "allowed dry-call assumed " + role(limited),
		limited + " iam:ListUserTags":              "denied simulation implicitDeny",
		limited + " iam:ListUsers":                 "allowed simulation",
		fine + " iam:ListUserTags":                 "allowed simulation",
		"555555555555 iam:ListUsers":               "", // suspended: skipped
		mgmt + " cloudtrail:LookupEvents":          "", // --since-report is for one account
	} {
		if got := rows[key]; got != want {
			t.Errorf("%s: %q, want %q\n%s", key, got, want, out)
		}
	}
	for _, want := range []string{
		"Skipped, not checked: 555555555555 (gone): suspended (only ACTIVE accounts are audited).",
		"fix: account " + refusing + " (m-2): let the caller assume " + role(refusing) + " (the org policy: `setupkeys check-permissions --print-policy org` prints it)",
		"fix: account " + limited + " (m-3): grant the role " + role(limited) + " iam:ListUserTags (the audit policy: `setupkeys check-permissions --print-policy audit` prints it)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fix: account "+fine) || strings.Contains(out, "fix: account "+mgmt) {
		t.Errorf("a fix for an account that lacks nothing:\n%s", out)
	}
	if !strings.Contains(errOut, "2 of 4 accounts lack permissions") {
		t.Errorf("stderr: %s", errOut)
	}

	// Without the two broken members everything is allowed: exit 0.
	code, out, errOut = runCLI(t, "", "check-permissions", "--org", "--role-name", "Auditor", "--exclude-accounts", refusing+","+limited, "--quiet")
	if code != ExitOK || !strings.Contains(out, "Nothing is denied in 2 accounts.") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	// Each account within --account-timeout: past it the account could not be checked, exit 1.
	code, out, errOut = runCLI(t, "", "check-permissions", "--accounts", fine+","+limited, "--role-name", "Auditor", "--account-timeout", "1ns", "--quiet")
	if rows := permissionRows(out); code != ExitError || !strings.Contains(errOut, "2 could not be checked") ||
		!strings.HasPrefix(rows[fine+" -"], "error - ") || !strings.HasPrefix(rows[limited+" -"], "error - ") ||
		!strings.HasPrefix(rows[fine+" sts:AssumeRole"], "unknown none no call through") {
		t.Errorf("--account-timeout: exit %d\n%s\n%s", code, out, errOut)
	}
	// --accounts alone lists nothing: no Organizations row.
	code, out, errOut = runCLI(t, "", "check-permissions", "--accounts", fine, "--role-name", "Auditor", "--remediation", "--quiet")
	if code != ExitOK || strings.Contains(out, "organizations:") || !strings.Contains(permissionRows(out)[fine+" iam:DeleteAccessKey"], "allowed") {
		t.Errorf("--accounts: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestPrintPolicy(t *testing.T) {
	for _, p := range policies.All {
		code, out, errOut := runCLI(t, "", "check-permissions", "--print-policy", p.Name)
		if code != ExitOK || out != string(p.JSON()) || errOut != "" {
			t.Errorf("--print-policy %s: exit %d, stderr %q", p.Name, code, errOut)
		}
		if !json.Valid([]byte(out)) {
			t.Errorf("--print-policy %s is not JSON", p.Name)
		}
	}
	code, out, errOut := runCLI(t, "", "check-permissions", "--print-policy", "admin")
	if code != ExitBadInput || out != "" || !strings.Contains(errOut, `--print-policy: no policy "admin": choose one of audit, remediate, org, securityhub`) {
		t.Errorf("unknown policy: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, _ = runCLI(t, "", "__complete", "check-permissions", "--print-policy", "")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, desc, ok := strings.Cut(line, "\t"); ok && desc != "" {
			names = append(names, name)
		}
	}
	if code != ExitOK || strings.Join(names, ",") != "audit,remediate,org,securityhub" {
		t.Errorf("--print-policy completes %q (exit %d)", out, code)
	}
}

func TestPermissionHint(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}
	op := func(service, name string, err error) error {
		return &smithy.OperationError{ServiceID: service, OperationName: name, Err: err}
	}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"IAM read", fmt.Errorf("generating the credential report: %w", op("IAM", "GenerateCredentialReport", denied)),
			"the caller needs iam:GenerateCredentialReport (the audit policy: `setupkeys check-permissions --print-policy audit` prints it; `setupkeys check-permissions` tells what else is missing)"},
		{"assumed role", op("IAM", "GetCredentialReport", fmt.Errorf("get credentials: %w", op("STS", "AssumeRole", denied))), "the caller needs sts:AssumeRole (the org policy"},
		{"listing", op("Organizations", "ListAccounts", &smithy.GenericAPIError{Code: "AccessDeniedException"}), "the caller needs organizations:ListAccounts (the org policy"},
		{"a write", op("IAM", "DeleteAccessKey", denied), "the caller needs iam:DeleteAccessKey (the remediate policy"},
		{"CloudTrail", op("CloudTrail", "LookupEvents", &smithy.GenericAPIError{Code: "AccessDeniedException"}), "the caller needs cloudtrail:LookupEvents (the audit policy"},
		{"not a refusal", op("IAM", "GetUser", &smithy.GenericAPIError{Code: "Throttling"}), ""},
		{"an action no policy grants", op("IAM", "CreateUser", denied), ""},
		{"no operation", denied, ""},
		{"nil", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := permissionHint(tt.err); !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
				t.Errorf("permissionHint = %q, want %q...", got, tt.want)
			}
		})
	}
}

// An account whose role is refused says, beside CSV, what to grant.
func TestAuditRefusedRoleHint(t *testing.T) {
	srv := fakeaws.New(fakeaws.Options{})
	t.Cleanup(srv.Close)
	srv.AddAccount("222222222222", "locked", "")
	if err := srv.UpdateAccount("222222222222", func(c *fakeaws.AccountConfig) { c.DenyAssumeRole = true }); err != nil {
		t.Fatal(err)
	}
	useWireFake(t, srv)
	code, _, errOut := runCLI(t, "", "audit", "--accounts", "222222222222", "--format", "csv", "--quiet")
	if code != ExitError || !strings.Contains(errOut, "AccessDenied") ||
		!strings.Contains(errOut, ": the caller needs sts:AssumeRole (the org policy: `setupkeys check-permissions --print-policy org` prints it;") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}
