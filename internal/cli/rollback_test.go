package cli

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// seedSetupKeys adds console users to acct, each with one never-used key made at setup, and
// returns their key IDs by user.
func seedSetupKeys(f *memiam.Fake, acct string, users ...string) map[string]string {
	created := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	ids := map[string]string{}
	for _, u := range users {
		id := "AKIA" + strings.ToUpper(u) + strings.Repeat("0", 16-len(u)-1) + acct[len(acct)-1:]
		f.AddUser(acct, memiam.User{Name: u, Created: created, Console: true, Keys: []memiam.Key{{ID: id, Created: created.Add(time.Second)}}})
		ids[u] = id
	}
	return ids
}

// killAfterLastCall leaves the journal as a kill -9 right after IAM carried out the last key's
// deactivation would: the journal ends with user's intent (which must be the last), its done
// never written. The journal is chained, so it cannot be edited by hand; cutting it at a line
// is what a crash does.
func killAfterLastCall(t *testing.T, journal, user string) {
	t.Helper()
	data := string(mustRead(t, journal))
	intent := strings.LastIndex(data, `"action":"deactivate","phase":"intent","user":"`+user+`"`)
	if intent < 0 {
		t.Fatalf("no intent for %s in the journal", user)
	}
	end := intent + strings.IndexByte(data[intent:], '\n') + 1
	if strings.Contains(data[end:], `"phase":"intent"`) {
		t.Fatalf("%s is not the last key acted on", user)
	}
	if err := os.WriteFile(journal, []byte(data[:end]), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A key whose deactivation was only recovered after an interrupted apply is listed and left
// alone by rollback (exit 0), unless --include-recovered.
func TestRollbackIncludeRecovered(t *testing.T) {
	const acct = "111111111111"
	fake := memiam.New()
	fake.AddAccount(acct, "management")
	keys := seedSetupKeys(fake, acct, "alice", "bob", "carol")
	clients := memClients{fake, acct}
	runCLI := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, clients, false, stdin, args...)
	}
	runCLITTY := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, clients, true, stdin, args...)
	}
	plan := t.TempDir() + "/plan.json"
	journal := plan + ".journal.jsonl"
	if code, _, errOut := runCLI(t, "", "plan", "--exact", "-o", plan); code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runCLI(t, "", "apply", plan, "--yes"); code != ExitOK || !strings.Contains(out, "3 deactivated") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	killAfterLastCall(t, journal, "carol")
	// The re-run finds carol's key already Inactive: recovered, setupkeys may not have done it.
	if code, out, errOut := runCLI(t, "", "apply", plan, "--yes"); code != ExitOK || !strings.Contains(out, "carol  AKIA************0001  an earlier run was interrupted") {
		t.Fatalf("re-apply: exit %d\n%s\n%s", code, out, errOut)
	}
	status := func() map[string]string {
		return map[string]string{"alice": fake.KeyStatus(acct, keys["alice"]), "bob": fake.KeyStatus(acct, keys["bob"]), "carol": fake.KeyStatus(acct, keys["carol"])}
	}

	code, _, errOut := runCLITTY(t, "\n", "rollback", journal)
	if code != ExitBadInput || !strings.Contains(errOut, "left alone (setupkeys may not have deactivated it; --include-recovered to re-activate)") || !strings.Contains(errOut, "to re-activate 2 keys") {
		t.Errorf("rollback at a terminal: exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCLI(t, "", "rollback", journal, "--yes")
	if code != ExitOK || !strings.Contains(out, "reactivate: 2 reactivated, 1 skipped") || !strings.Contains(out, "found already inactive after an interrupted run: setupkeys may not have deactivated it; re-activate by hand if intended") || !strings.Contains(errOut, "re-activating up to 2 keys") {
		t.Errorf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := status(); got["carol"] != "Inactive" || got["alice"] != "Active" || got["bob"] != "Active" {
		t.Errorf("after rollback: %v", got)
	}
	code, out, errOut = runCLITTY(t, acct+"\n", "rollback", journal, "--include-recovered")
	if code != ExitOK || !strings.Contains(errOut, "will be re-activated (--include-recovered)") || !strings.Contains(out, "reactivate: 3 reactivated") {
		t.Errorf("rollback --include-recovered: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := status(); got["carol"] != "Active" {
		t.Errorf("after rollback --include-recovered: %v", got)
	}
}

// One journal shared by the single-account plans of two accounts: rollback without --plan-id
// names both plans (exit 2); with it, each account's credentials roll back their own plan.
func TestRollbackPlanID(t *testing.T) {
	const mgmt, member = "111111111111", "222222222222"
	fake := memiam.New()
	fake.AddAccount(mgmt, "management")
	fake.AddAccount(member, "dev")
	keys := map[string]map[string]string{mgmt: seedSetupKeys(fake, mgmt, "alice", "bob"), member: seedSetupKeys(fake, member, "carol")}
	// Each account's own credentials: the caller changes with as.
	clients := memClients{fake, mgmt}
	as := func(acct string) { clients.caller = acct }
	runCLI := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, clients, false, stdin, args...)
	}
	dir := t.TempDir()
	journal := dir + "/shared.journal.jsonl"
	planIDs := map[string]string{}
	for _, acct := range []string{mgmt, member} {
		as(acct)
		plan := dir + "/" + acct + ".json"
		if code, _, errOut := runCLI(t, "", "plan", "--exact", "-o", plan); code != ExitOK {
			t.Fatalf("plan %s: exit %d\n%s", acct, code, errOut)
		}
		if code, out, errOut := runCLI(t, "", "apply", plan, "--journal", journal, "--yes"); code != ExitOK {
			t.Fatalf("apply %s: exit %d\n%s\n%s", acct, code, out, errOut)
		}
		p := mustLoadPlan(t, plan)
		planIDs[acct] = p.ID
	}
	status := func(acct string) string {
		var out []string
		for _, u := range []string{"alice", "bob", "carol"} {
			if id, ok := keys[acct][u]; ok {
				out = append(out, u+"="+fake.KeyStatus(acct, id))
			}
		}
		return strings.Join(out, " ")
	}

	for _, tt := range []struct {
		name     string
		as       string
		args     []string
		wantCode int
		want     []string
		// wantStatus are both accounts' keys after the run.
		wantStatus [2]string
	}{
		{"several plans, no --plan-id", member, nil, ExitBadInput,
			[]string{journal + " records 2 plans: " + planIDs[mgmt] + " (2 keys in account " + mgmt + "), " + planIDs[member] + " (1 key in account " + member + "); pick one with --plan-id"},
			[2]string{"alice=Inactive bob=Inactive", "carol=Inactive"}},
		{"unknown plan", member, []string{"--plan-id", "plan-0000000000000000"}, ExitBadInput,
			[]string{"records no key deactivated or deleted by plan plan-0000000000000000; it records " + planIDs[mgmt]},
			[2]string{"alice=Inactive bob=Inactive", "carol=Inactive"}},
		{"not a plan ID", member, []string{"--plan-id", "0a588d54"}, ExitBadInput,
			[]string{`--plan-id "0a588d54" is not a plan ID`},
			[2]string{"alice=Inactive bob=Inactive", "carol=Inactive"}},
		{"another account's plan", member, []string{"--plan-id", planIDs[mgmt]}, ExitBadInput,
			[]string{"plan is for another account"},
			[2]string{"alice=Inactive bob=Inactive", "carol=Inactive"}},
		{"the member's plan", member, []string{"--plan-id", planIDs[member]}, ExitOK,
			[]string{"Rolling back plan " + planIDs[member] + " of " + journal, "reactivate: 1 reactivated"},
			[2]string{"alice=Inactive bob=Inactive", "carol=Active"}},
		{"the management account's plan", mgmt, []string{"--plan-id", planIDs[mgmt]}, ExitOK,
			[]string{"reactivate: 2 reactivated"},
			[2]string{"alice=Active bob=Active", "carol=Active"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as(tt.as)
			code, out, errOut := runCLI(t, "", append([]string{"rollback", journal, "--yes"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tt.wantCode, out, errOut)
			}
			for _, s := range tt.want {
				if !strings.Contains(out+errOut, s) {
					t.Errorf("output lacks %q:\n%s\n%s", s, out, errOut)
				}
			}
			if got := [2]string{status(mgmt), status(member)}; got != tt.wantStatus {
				t.Errorf("keys %v, want %v", got, tt.wantStatus)
			}
		})
	}
}

func mustLoadPlan(t *testing.T, path string) *remediate.Plan {
	t.Helper()
	p, err := remediate.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
