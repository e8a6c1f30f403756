package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// A journal of format 1 through the CLI: apply refuses to append to it and rollback refuses it
// (exit 2, the file untouched) unless --legacy-journal, which warns and re-activates only the key
// the journal records as deactivated (done).
func TestLegacyJournal(t *testing.T) {
	const acct = "111111111111"
	fake := memiam.New()
	fake.AddAccount(acct, "management")
	// The users and keys the fixture names, made at setup and never used.
	created := fixedNow.Add(-300 * 24 * time.Hour)
	for i := range 4 {
		fake.AddUser(acct, memiam.User{Name: fmt.Sprintf("setup-%d", i), Created: created, Console: true, Keys: []memiam.Key{{ID: fmt.Sprintf("AKIASETUP%011d", i), Created: created.Add(time.Second)}}})
	}
	clients := memClients{fake, acct}
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	if code, _, errOut := runCLIWith(t, clients, false, "", "plan", "--exact", "-o", plan); code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	for _, name := range []string{"setup-0", "setup-1", "setup-2", "setup-3"} {
		fake.Update(acct, name, func(u *memiam.User) { u.Keys[0].Status = "Inactive" })
	}
	data, err := os.ReadFile(filepath.Join("..", "remediate", "testdata", "journal-format1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "old.journal.jsonl")
	if err := os.WriteFile(journal, data, 0o600); err != nil {
		t.Fatal(err)
	}
	untouched := func(what string) {
		t.Helper()
		if got, _ := os.ReadFile(journal); !bytes.Equal(got, data) {
			t.Errorf("%s changed the journal", what)
		}
	}

	code, _, errOut := runCLIWith(t, clients, false, "", "apply", plan, "--yes", "--journal", journal)
	if want := "journal " + journal + " is a setupkeys journal of format 1 (not tamper-evident); start a new journal with --journal NEW"; code != ExitBadInput || !strings.Contains(errOut, want) {
		t.Errorf("apply: exit %d, want 2 and %q\n%s", code, want, errOut)
	}
	untouched("apply")
	code, _, errOut = runCLIWith(t, clients, false, "", "rollback", journal, "--yes")
	if code != ExitBadInput || !strings.Contains(errOut, "format 1 (not tamper-evident); roll it back with --legacy-journal") {
		t.Errorf("rollback: exit %d\n%s", code, errOut)
	}
	untouched("rollback")

	code, out, errOut := runCLIWith(t, clients, false, "", "rollback", journal, "--yes", "--legacy-journal")
	if code != ExitOK || !strings.Contains(errOut, "warning: journal "+journal+" is a setupkeys journal of format 1 (not tamper-evident): nothing proves it was not edited") ||
		!strings.Contains(out, "reactivate: 1 reactivated, 1 skipped") {
		t.Errorf("rollback --legacy-journal: exit %d\n%s\n%s", code, out, errOut)
	}
	for id, want := range map[string]string{"AKIASETUP00000000000": "Active", "AKIASETUP00000000001": "Inactive", "AKIASETUP00000000002": "Inactive", "AKIASETUP00000000003": "Inactive"} {
		if got := fake.KeyStatus(acct, id); got != want {
			t.Errorf("%s is %s, want %s", id, got, want)
		}
	}
}
