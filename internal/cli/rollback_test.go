package cli

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
)

// seedSetupKeys adds console users to acct, each with one never-used key made at setup, and
// returns their key IDs by user.
func seedSetupKeys(srv *fakeaws.Server, acct string, users ...string) map[string]string {
	created := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	ids := map[string]string{}
	for _, u := range users {
		id := "AKIA" + strings.ToUpper(u) + strings.Repeat("0", 16-len(u)-1) + acct[len(acct)-1:]
		srv.AddUser(acct, fakeaws.User{Name: u, Created: created, Console: &fakeaws.Console{Created: created}, Keys: []fakeaws.Key{{ID: id, Created: created.Add(time.Second)}}})
		ids[u] = id
	}
	return ids
}

// markRecovered rewrites the journal as if user's deactivation had been recovered after an
// interrupted run: its done entry says recovered.
func markRecovered(t *testing.T, journal, user string) {
	t.Helper()
	lines := strings.SplitAfter(string(mustRead(t, journal)), "\n")
	n := 0
	for i, l := range lines {
		if strings.Contains(l, `"action":"deactivate","phase":"done","user":"`+user+`"`) {
			lines[i] = strings.TrimSuffix(l, "}\n") + `,"recovered":true}` + "\n"
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d done entries for %s in the journal", n, user)
	}
	if err := os.WriteFile(journal, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A key whose deactivation was only recovered after an interrupted apply is listed and left
// alone by rollback (exit 0), unless --include-recovered.
func TestRollbackIncludeRecoveredWithFake(t *testing.T) {
	srv := fakeaws.New(fakeaws.Options{Seed: 7, Now: func() time.Time { return fixedNow }})
	t.Cleanup(srv.Close)
	acct := srv.ManagementAccount()
	keys := seedSetupKeys(srv, acct, "alice", "bob", "carol")
	useFake(t, srv)
	plan := t.TempDir() + "/plan.json"
	journal := plan + ".journal.jsonl"
	if code, _, errOut := runCLI(t, "", "plan", "--exact", "-o", plan); code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runCLI(t, "", "apply", plan, "--yes"); code != ExitOK || !strings.Contains(out, "3 deactivated") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	markRecovered(t, journal, "bob")
	status := func() map[string]string {
		st := fakeKeyStatuses(srv, acct)
		return map[string]string{"alice": st[keys["alice"]], "bob": st[keys["bob"]], "carol": st[keys["carol"]]}
	}

	code, _, errOut := runCLITTY(t, "\n", "rollback", journal)
	if code != ExitBadInput || !strings.Contains(errOut, "left alone (setupkeys may not have deactivated it; --include-recovered to re-activate)") || !strings.Contains(errOut, "to re-activate 2 keys") {
		t.Errorf("rollback at a terminal: exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCLI(t, "", "rollback", journal, "--yes")
	if code != ExitOK || !strings.Contains(out, "reactivate: 2 reactivated, 1 skipped") || !strings.Contains(out, "found already inactive after an interrupted run: setupkeys may not have deactivated it; re-activate by hand if intended") || !strings.Contains(errOut, "re-activating up to 2 keys") {
		t.Errorf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := status(); got["bob"] != "Inactive" || got["alice"] != "Active" || got["carol"] != "Active" {
		t.Errorf("after rollback: %v", got)
	}
	code, out, errOut = runCLITTY(t, acct+"\n", "rollback", journal, "--include-recovered")
	if code != ExitOK || !strings.Contains(errOut, "will be re-activated (--include-recovered)") || !strings.Contains(out, "reactivate: 3 reactivated") {
		t.Errorf("rollback --include-recovered: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := status(); got["bob"] != "Active" {
		t.Errorf("after rollback --include-recovered: %v", got)
	}
}
