package cli

import (
	"maps"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// TestPlanAndApplyOrg: plan --org with a member that denies the role lists it as not audited
// and plans the rest (exit 0); apply while another member denies the role fails that member's
// keys (exit 1) and deactivates the others; once the role works again a re-run with the same
// journal converges (exit 0).
func TestPlanAndApplyOrg(t *testing.T) {
	const mgmt, member, locked = "111111111111", "222222222222", "444444444444"
	fake := memiam.New()
	fake.AddAccount(mgmt, "management")
	fake.AddAccount(member, "dev")
	fake.AddAccount(locked, "locked")
	fake.DenyRole(locked, true)
	wantFail := map[string]int{mgmt: 3, member: 4, locked: 5}
	keys := map[string]map[string]string{}
	for acct, n := range wantFail {
		keys[acct] = seedSetupUsers(fake, acct, n)
	}
	runCLI := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, memClients{fake, mgmt}, false, stdin, args...)
	}
	plan := t.TempDir() + "/plan.json"

	code, _, errOut := runCLI(t, "", "plan", "--org", "--quiet", "-o", plan)
	// The plan is written, and the run exits 1: an account is missing from it.
	if code != ExitError || !strings.Contains(errOut, "1 of 3 accounts could not be audited") || !strings.Contains(errOut, "Not audited, so nothing in them is planned (1)") {
		t.Fatalf("plan --org: exit %d\n%s", code, errOut)
	}
	p, err := remediate.LoadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	perAccount := map[string]int{}
	for _, a := range p.Actions {
		perAccount[a.AccountID]++
	}
	if p.AccountID != mgmt || perAccount[mgmt] != wantFail[mgmt] || perAccount[member] != wantFail[member] || perAccount[locked] != 0 {
		t.Errorf("planned per account %v, want %v without %s", perAccount, wantFail, locked)
	}
	if na := p.NotAudited(); len(na) != 1 || na[0].AccountID != locked || !strings.Contains(na[0].Error, "AccessDenied") {
		t.Errorf("not audited: %+v", na)
	}

	// The member's role is denied at apply time: its keys fail, the management account's go.
	fake.DenyRole(member, true)
	code, out, errOut := runCLI(t, "", "apply", plan, "--yes")
	if code != ExitError || !strings.Contains(errOut, "failed; run again with the same journal") {
		t.Errorf("apply with a denied member: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := memStatuses(fake, member, keys[member]); !maps.Equal(got, keys[member]) {
		t.Errorf("member keys %v though the role was denied", got)
	}
	fake.DenyRole(member, false)
	code, out, errOut = runCLI(t, "", "apply", plan, "--yes")
	if code != ExitOK {
		t.Fatalf("re-run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, a := range p.Actions {
		if st := fake.KeyStatus(a.AccountID, a.KeyID()); st != "Inactive" {
			t.Errorf("account %s key %s is %s after the re-run", a.AccountID, a.KeyID(), st)
		}
	}
	if strings.Count(out, "done by an earlier run") != wantFail[mgmt] {
		t.Errorf("re-run should not act again on the management account's keys:\n%s", out)
	}
}

// check-permissions through the policy simulator: a denied write is exit 1 with --remediation,
// and the audit's actions alone are exit 0.
func TestCheckPermissions(t *testing.T) {
	const acct = "111111111111"
	fake := memiam.New()
	fake.AddAccount(acct, "management")
	fake.Decide = func(action string) string {
		if action == "iam:DeleteAccessKey" {
			return "implicitDeny"
		}
		return "allowed"
	}
	runCLI := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, memClients{fake, acct}, false, stdin, args...)
	}
	code, out, errOut := runCLI(t, "", "check-permissions", "--remediation")
	if code != ExitError || !strings.Contains(errOut, "denied: iam:DeleteAccessKey") {
		t.Errorf("--remediation: exit %d\n%s\n%s", code, out, errOut)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	for action, want := range map[string]string{"iam:DeleteAccessKey": "denied simulation implicitDeny", "iam:UpdateAccessKey": "allowed simulation", "sts:GetCallerIdentity": "allowed none needs no permission"} {
		if rows[action] != want {
			t.Errorf("%s: %q, want %q:\n%s", action, rows[action], want, out)
		}
	}
	code, out, _ = runCLI(t, "", "check-permissions")
	if code != ExitOK || strings.Contains(out, "DeleteAccessKey") || !strings.Contains(out, "Nothing is denied.") {
		t.Errorf("audit actions: exit %d\n%s", code, out)
	}
}

// runCLITTY is runCLI with a person at the terminal typing stdin.
func runCLITTY(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runCLIWith(t, nil, true, stdin, args...)
}
