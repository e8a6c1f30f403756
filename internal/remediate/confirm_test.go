package remediate

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys"
)

func TestConfirm(t *testing.T) {
	w := newWorld(t, 2)
	tests := []struct {
		name  string
		input string
		tty   bool
		want  error
	}{
		{"typed", acct + "\n", true, nil},
		{"typed with spaces, no newline", "  " + acct + "  ", true, nil},
		{"wrong account", "222222222222\n", true, ErrNotConfirmed},
		{"yes is not enough", "yes\n", true, ErrNotConfirmed},
		{"empty", "", true, ErrNotConfirmed},
		{"no tty", acct + "\n", false, ErrNotInteractive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Confirm(strings.NewReader(tt.input), &out, tt.tty, w.plan, ActionDeactivate)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.tty {
				for _, s := range []string{"Plan " + w.plan.ID, "account " + acct, "Will deactivate 2 access keys", "AKIA************0001", "Type the account ID (" + acct + ") to deactivate 2 keys"} {
					if !strings.Contains(out.String(), s) {
						t.Errorf("output lacks %q:\n%s", s, out.String())
					}
				}
			} else if out.Len() != 0 {
				t.Errorf("prompted without a terminal:\n%s", out.String())
			}
			if strings.Contains(out.String(), key(1)) {
				t.Errorf("full key ID on screen:\n%s", out.String())
			}
		})
	}
}

func TestConfirmDeleteWarnsAndEmptyPlanNeedsNothing(t *testing.T) {
	w := newWorld(t, 1)
	var out bytes.Buffer
	Confirm(strings.NewReader(acct+"\n"), &out, true, w.plan, ActionDelete)
	if !strings.Contains(out.String(), "Will DELETE 1 access key. Deleted keys cannot be restored.") {
		t.Errorf("output:\n%s", out.String())
	}
	empty, _ := NewPlan(nil, acct, setupkeys.Source{Kind: setupkeys.SourceLiveAPI}, false, 0, planNow)
	out.Reset()
	if err := Confirm(strings.NewReader(""), &out, false, empty, ActionDelete); err != nil || !strings.Contains(out.String(), "Nothing to do") {
		t.Errorf("empty plan: %v\n%s", err, out.String())
	}
}

func TestWriteSummary(t *testing.T) {
	s := &Summary{Action: ActionDeactivate, Journal: "j.jsonl", Results: []KeyResult{
		{User: "alice", AccessKeyID: "AKIAALICE00000000001", Outcome: OutcomeDeactivated},
		{User: "bob", AccessKeyID: "AKIABOB0000000000001", Outcome: OutcomeSkipped, Reason: "the key is already Inactive"},
		{User: "carol", AccessKeyID: "AKIACAROL00000000001", Outcome: OutcomeFailed, Reason: "deactivate failed: AccessDenied"},
	}}
	var out bytes.Buffer
	WriteSummary(&out, s)
	for _, want := range []string{"deactivated  alice  AKIA************0001", "skipped      bob", "the key is already Inactive", "deactivate: 1 deactivated, 1 skipped, 1 failed (journal j.jsonl)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "AKIAALICE00000000001") {
		t.Error("unmasked key ID")
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 keys", 1: "1 key", 2: "2 keys"} {
		if got := Plural(n, "key"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}

// A user name from a plan is shown at the account-ID prompt: an ESC sequence in it must not
// clear the screen or hide a plan line, so every name, reason and path is shown escaped.
func TestSummariesEscapeHostileData(t *testing.T) {
	const hostile = "ev\x1b[1A\x1b[2Kil\x00\xff\r"
	f := mkFinding(hostile, "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)
	rev := mkFinding("r"+hostile, "AKIAALICE00000000002", 2, setupkeys.StatusReview, t0)
	p, err := NewPlan([]setupkeys.Finding{f, rev}, acct, setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "/tmp/" + hostile}, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WritePlanSummary(&out, p, ActionDeactivate)
	WriteSummary(&out, &Summary{AccountID: acct, Action: ActionDeactivate, Journal: "/tmp/j" + hostile, Results: []KeyResult{
		{AccountID: acct, User: hostile, AccessKeyID: "AKIAALICE00000000001", Outcome: OutcomeSkipped, Reason: "why " + hostile},
	}})
	for _, bad := range []string{"\x1b", "\x00", "\xff", "\r"} {
		if strings.Contains(out.String(), bad) {
			t.Fatalf("summary holds %q raw:\n%q", bad, out.String())
		}
	}
	if n := strings.Count(out.String(), `ev\x1b[1A\x1b[2Kil\x00\xff\r`); n < 5 {
		t.Fatalf("the escaped name appears %d times, want 5 (plan line, listed line, source, result, journal):\n%s", n, out.String())
	}
}
