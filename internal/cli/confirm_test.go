package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/remediate"
)

const confirmAccount = "111111111111"

func testKeyID(i int) string { return fmt.Sprintf("AKIAKEY%013d", i) }

// testPlan is a live plan for confirmAccount deactivating n failing keys of users u1, u2...
func testPlan(t *testing.T, n int) *remediate.Plan {
	t.Helper()
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	src := setupkeys.Source{Kind: setupkeys.SourceLiveAPI}
	var findings []setupkeys.Finding
	for i := 1; i <= n; i++ {
		user, id := fmt.Sprintf("u%d", i), testKeyID(i)
		arn := "arn:aws:iam::" + confirmAccount + ":user/" + user
		findings = append(findings, setupkeys.Finding{
			ID: setupkeys.FindingID(confirmAccount, arn, 2, created), AccountID: confirmAccount, User: user, ARN: arn,
			KeySlot: 2, AccessKeyID: &id, Status: setupkeys.StatusFail, UserCreated: created, KeyCreated: created, Source: src,
		})
	}
	p, err := remediate.NewPlan(findings, confirmAccount, src, false, 0, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfirmPlan(t *testing.T) {
	p := testPlan(t, 2)
	tests := []struct {
		name  string
		input string
		tty   bool
		want  error
	}{
		{"typed", confirmAccount + "\n", true, nil},
		{"typed with spaces, no newline", "  " + confirmAccount + "  ", true, nil},
		{"wrong account", "222222222222\n", true, remediate.ErrNotConfirmed},
		{"yes is not enough", "yes\n", true, remediate.ErrNotConfirmed},
		{"empty", "", true, remediate.ErrNotConfirmed},
		{"no tty", confirmAccount + "\n", false, remediate.ErrNotInteractive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := confirmPlan(strings.NewReader(tt.input), &out, tt.tty, p, remediate.ActionDeactivate)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.tty {
				for _, s := range []string{"Plan " + p.ID, "account " + confirmAccount, "Will deactivate 2 access keys", "AKIA************0001", "Type the account ID (" + confirmAccount + ") to deactivate 2 keys"} {
					if !strings.Contains(out.String(), s) {
						t.Errorf("output lacks %q:\n%s", s, out.String())
					}
				}
			} else if out.Len() != 0 {
				t.Errorf("prompted without a terminal:\n%s", out.String())
			}
			if strings.Contains(out.String(), testKeyID(1)) {
				t.Errorf("full key ID on screen:\n%s", out.String())
			}
		})
	}
}

func TestConfirmDeleteWarnsAndEmptyPlanNeedsNothing(t *testing.T) {
	p := testPlan(t, 1)
	var out bytes.Buffer
	confirmPlan(strings.NewReader(confirmAccount+"\n"), &out, true, p, remediate.ActionDelete)
	if !strings.Contains(out.String(), "Will DELETE 1 access key. Deleted keys cannot be restored.") {
		t.Errorf("output:\n%s", out.String())
	}
	empty, _ := remediate.NewPlan(nil, confirmAccount, setupkeys.Source{Kind: setupkeys.SourceLiveAPI}, false, 0, fixedNow)
	out.Reset()
	if err := confirmPlan(strings.NewReader(""), &out, false, empty, remediate.ActionDelete); err != nil || !strings.Contains(out.String(), "Nothing to do") {
		t.Errorf("empty plan: %v\n%s", err, out.String())
	}
}

func TestWriteSummary(t *testing.T) {
	s := &remediate.Summary{Action: remediate.ActionDeactivate, Journal: "j.jsonl", Results: []remediate.KeyResult{
		{User: "alice", AccessKeyID: "AKIAALICE00000000001", Outcome: remediate.OutcomeDeactivated},
		{User: "bob", AccessKeyID: "AKIABOB0000000000001", Outcome: remediate.OutcomeSkipped, Reason: "the key is already Inactive"},
		{User: "carol", AccessKeyID: "AKIACAROL00000000001", Outcome: remediate.OutcomeFailed, Reason: "deactivate failed: AccessDenied"},
	}}
	var out bytes.Buffer
	writeSummary(&out, s)
	for _, want := range []string{"deactivated  alice  AKIA************0001", "skipped      bob", "the key is already Inactive", "deactivate: 1 deactivated, 1 skipped, 1 failed (journal j.jsonl)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "AKIAALICE00000000001") {
		t.Error("unmasked key ID")
	}
}

// A multi-account plan's summary names each action's account and the accounts not audited, and
// its prompt asks for the caller's account, which made the plan.
func TestMultiAccountPlanSummaryAndPrompt(t *testing.T) {
	const mgmt, member, denied = "111111111111", "222222222222", "333333333333"
	src := setupkeys.Source{Kind: setupkeys.SourceLiveAPI}
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	finding := func(account, user, keyID string, status setupkeys.Status, created time.Time) setupkeys.Finding {
		arn := "arn:aws:iam::" + account + ":user/" + user
		return setupkeys.Finding{ID: setupkeys.FindingID(account, arn, 1, created), AccountID: account, User: user, ARN: arn, KeySlot: 1,
			AccessKeyID: &keyID, Status: status, UserCreated: created, KeyCreated: created, Source: src}
	}
	results := []setupkeys.AccountResult{
		{AccountID: mgmt, AccountName: "management", Source: src, Findings: []setupkeys.Finding{finding(mgmt, "alice", "AKIAALICE00000000001", setupkeys.StatusFail, created)}},
		{AccountID: member, AccountName: "dev", Source: src, Findings: []setupkeys.Finding{
			finding(member, "bob", "AKIABOB0000000000001", setupkeys.StatusFail, created),
			finding(member, "carol", "AKIACAROL00000000001", setupkeys.StatusReview, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)),
		}},
		{AccountID: denied, AccountName: "locked", Err: errors.New("AccessDenied: sts:AssumeRole")},
	}
	p, err := remediate.NewAccountsPlan(results, mgmt, false, 0, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writePlanSummary(&out, p, remediate.ActionDeactivate)
	for _, s := range []string{"over 3 accounts (2 audited)", "by account " + mgmt, "Not audited, so nothing in them is planned (1):", denied + "  locked  AccessDenied", "ACCOUNT       USER", member + "  bob", member + "  carol"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if err := confirmPlan(strings.NewReader(mgmt+"\n"), &out, true, p, remediate.ActionDeactivate); err != nil || !strings.Contains(out.String(), "Type your account ID ("+mgmt+", which made this plan) to deactivate 2 keys in 2 accounts") {
		t.Errorf("confirm: %v\n%s", err, out.String())
	}
}

// A plan made from a report file says its keys are unresolved and must be resolved live.
func TestUnresolvedPlanSummary(t *testing.T) {
	src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "report.csv"}
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	arn := "arn:aws:iam::" + confirmAccount + ":user/alice"
	f := setupkeys.Finding{ID: setupkeys.FindingID(confirmAccount, arn, 1, created), AccountID: confirmAccount, User: "alice", ARN: arn, KeySlot: 1,
		Status: setupkeys.StatusFail, UserCreated: created, KeyCreated: created, Source: src}
	p, err := remediate.NewPlan([]setupkeys.Finding{f}, confirmAccount, src, false, 0, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writePlanSummary(&out, p, remediate.ActionDeactivate)
	for _, s := range []string{"from report-file report.csv", "(unresolved)", "must be resolved live"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, out.String())
		}
	}
}

// Results in other accounts than the summary's show their account.
func TestWriteSummaryShowsOtherAccounts(t *testing.T) {
	s := &remediate.Summary{Action: remediate.ActionDeactivate, AccountID: confirmAccount, Journal: "j.jsonl", Results: []remediate.KeyResult{
		{AccountID: confirmAccount, User: "u1", AccessKeyID: "AKIAORG0000000000001", Outcome: remediate.OutcomeDeactivated},
		{AccountID: "222222222222", User: "u2", AccessKeyID: "AKIAORG0000000000002", Outcome: remediate.OutcomeDeactivated},
	}}
	var out bytes.Buffer
	writeSummary(&out, s)
	if !strings.Contains(out.String(), "deactivated  222222222222  u2") || !strings.Contains(out.String(), "deactivated  "+confirmAccount+"  u1") {
		t.Errorf("summary:\n%s", out.String())
	}
}

// FuzzPlanSummary: any plan that reads has a summary, never a panic. Seeds: remediate's plan
// corpus.
func FuzzPlanSummary(f *testing.F) {
	seeds, _ := filepath.Glob("../remediate/testdata/fuzz/FuzzReadPlan/*")
	for _, path := range seeds {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Add(mustPlanJSON(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := remediate.ReadPlan(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			return
		}
		var out bytes.Buffer
		writePlanSummary(&out, p, remediate.ActionDeactivate)
		writePlanSummary(&out, p, remediate.ActionDelete)
		if !strings.Contains(out.String(), p.ID) {
			t.Errorf("summary does not name plan %s:\n%s", p.ID, out.String())
		}
	})
}

func mustPlanJSON(f *testing.F) []byte {
	p, err := remediate.NewPlan(nil, confirmAccount, setupkeys.Source{Kind: setupkeys.SourceLiveAPI}, false, 0, fixedNow)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// A user name from a plan is shown at the account-ID prompt: an ESC sequence in it must not
// clear the screen or hide a plan line, so every name, reason and path is shown escaped.
func TestSummariesEscapeHostileData(t *testing.T) {
	const hostile = "ev\x1b[1A\x1b[2Kil\x00\xff\r"
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "/tmp/" + hostile}
	finding := func(user, keyID string, slot int, status setupkeys.Status) setupkeys.Finding {
		arn := "arn:aws:iam::" + confirmAccount + ":user/" + user
		return setupkeys.Finding{ID: setupkeys.FindingID(confirmAccount, arn, slot, created), AccountID: confirmAccount, User: user, ARN: arn, KeySlot: slot,
			AccessKeyID: &keyID, Status: status, UserCreated: created, KeyCreated: created, Source: src}
	}
	p, err := remediate.NewPlan([]setupkeys.Finding{finding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail), finding("ralice", "AKIAALICE00000000002", 2, setupkeys.StatusReview)}, confirmAccount, src, false, 0, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	// Plans refuse such names (ReadPlan, NewPlan); the summary escapes them all the same.
	p.Actions[0].User, p.Listed[0].User = hostile, "r"+hostile
	var out bytes.Buffer
	writePlanSummary(&out, p, remediate.ActionDeactivate)
	writeSummary(&out, &remediate.Summary{AccountID: confirmAccount, Action: remediate.ActionDeactivate, Journal: "/tmp/j" + hostile, Results: []remediate.KeyResult{
		{AccountID: confirmAccount, User: hostile, AccessKeyID: "AKIAALICE00000000001", Outcome: remediate.OutcomeSkipped, Reason: "why " + hostile},
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
