package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// format1Journal copies the format 1 fixture into a fresh directory and returns its path and
// bytes. The fixture records, for plan-0a588d54e8bb61ad in account 111111111111: setup-0
// deactivated (done), setup-1 an intent without outcome (killed), setup-2 an intent then
// failed, setup-3 a recovered done.
func format1Journal(t *testing.T) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "journal-format1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.journal.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func inactiveSetupKeys(n int) *fakeIAM {
	f := newFakeIAM()
	for i := range n {
		id := fmt.Sprintf("AKIASETUP%011d", i)
		f.addKey(fmt.Sprintf("setup-%d", i), id, t0)
		f.UpdateAccessKeyDirect(id, "Inactive")
	}
	return f
}

func unchanged(t *testing.T, path string, want []byte) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s was changed (err %v)", path, err)
	}
}

// A journal of format 1 (unchained) is recognised and named: apply refuses to append to it, and
// rollback refuses it unless asked (Format1), the file untouched either way.
func TestFormat1JournalRefused(t *testing.T) {
	path, data := format1Journal(t)
	w := newWorld(t, 1)
	w.journal = path
	_, err := Apply(context.Background(), w.plan, w.opts(ActionDeactivate))
	want := "journal " + path + " is a setupkeys journal of format 1 (not tamper-evident); start a new journal with --journal NEW"
	var f1 *Format1Error
	if err == nil || err.Error() != want || !errors.Is(err, ErrBadJournal) || !errors.As(err, &f1) {
		t.Errorf("apply: err = %v\nwant %s", err, want)
	}
	unchanged(t, path, data)
	if len(w.iam.writeLog()) != 0 {
		t.Errorf("apply wrote to IAM: %v", w.iam.writeLog())
	}

	iam := inactiveSetupKeys(4)
	_, err = Rollback(context.Background(), RollbackOptions{JournalPath: path, Client: iam, CallerAccount: acct})
	if err == nil || !errors.Is(err, ErrBadJournal) || !strings.Contains(err.Error(), "is a setupkeys journal of format 1 (not tamper-evident); roll it back with --legacy-journal") {
		t.Errorf("rollback: err = %v", err)
	}
	unchanged(t, path, data)
	if _, err := ReadJournal(path); !errors.As(err, &f1) {
		t.Errorf("ReadJournal: err = %v, want a *Format1Error", err)
	}
	// A file that is not a journal at all is still "not a setupkeys journal".
	other := filepath.Join(t.TempDir(), "notes.jsonl")
	os.WriteFile(other, []byte(`{"time":"2026-11-20T10:00:00Z","note":"mine"}`+"\n"), 0o600)
	if _, err := ReadJournal(other); err == nil || errors.As(err, &f1) || !strings.Contains(err.Error(), "not a setupkeys journal") {
		t.Errorf("ReadJournal of another JSON file: err = %v", err)
	}
}

// Rolled back with Format1, a journal of format 1 re-activates only keys it records as
// deactivated (done): not an intent without outcome, not a failed one, a recovered one only with
// IncludeRecovered. Its own entries are appended in format 1, so a re-run knows what it did.
func TestFormat1JournalRollback(t *testing.T) {
	path, data := format1Journal(t)
	iam := inactiveSetupKeys(4)
	opts := RollbackOptions{JournalPath: path, Client: iam, CallerAccount: acct, Format1: true, VerifyDelay: time.Millisecond}
	sum, err := Rollback(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"setup-0:reactivated", "setup-3:skipped"})
	if sum.Results[1].Reason != RecoveredSkipReason {
		t.Errorf("setup-3: %q", sum.Results[1].Reason)
	}
	for i, want := range []string{"Active", "Inactive", "Inactive", "Inactive"} {
		if got := iam.status(fmt.Sprintf("AKIASETUP%011d", i)); got != want {
			t.Errorf("setup-%d is %s, want %s", i, got, want)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(after, data) {
		t.Fatalf("the journal's lines were not kept as they were (err %v)", err)
	}
	entries, err := ReadFormat1Journal(path)
	if err != nil || len(entries) != 8 || entries[7].Action != ActionReactivate || entries[7].Phase != PhaseDone {
		t.Fatalf("after the rollback: %d entries, err %v", len(entries), err)
	}

	opts.IncludeRecovered = true
	sum, err = Rollback(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "with IncludeRecovered", outcomes(sum), []string{"setup-0:reactivated(earlier)", "setup-3:reactivated"})
	if got := iam.status("AKIASETUP00000000001"); got != "Inactive" {
		t.Errorf("the key of an intent without outcome is %s: re-activated on the strength of an unproven file", got)
	}
}
