package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

// Multi-account plans: the caller (acct) audited itself and member accounts through a role.
const (
	member  = "222222222222"
	denied  = "333333333333"
	member2 = "444444444444"
)

// findingIn is mkFinding in another account.
func findingIn(account, user, keyID string, status setupkeys.Status, created time.Time) setupkeys.Finding {
	arn := "arn:aws:iam::" + account + ":user/" + user
	f := setupkeys.Finding{ID: setupkeys.FindingID(account, arn, 1, created), AccountID: account, User: user, ARN: arn, KeySlot: 1, Status: status, UserCreated: created, KeyCreated: created, Source: liveSrc}
	if keyID != "" {
		f.AccessKeyID = &keyID
	}
	return f
}

// orgResults: the caller's account with alice's key, a member with bob's key and carol's review
// key, and an account that could not be audited (its partial finding must not be planned).
func orgResults() []setupkeys.AccountResult {
	return []setupkeys.AccountResult{
		{AccountID: acct, AccountName: "management", Source: liveSrc, Findings: []setupkeys.Finding{findingIn(acct, "alice", "AKIAALICE00000000001", setupkeys.StatusFail, t0)}},
		{AccountID: member, AccountName: "dev", Source: liveSrc, Findings: []setupkeys.Finding{
			findingIn(member, "bob", "AKIABOB0000000000001", setupkeys.StatusFail, t0),
			findingIn(member, "carol", "AKIACAROL00000000001", setupkeys.StatusReview, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)),
		}},
		{AccountID: denied, AccountName: "locked", Err: errors.New("AccessDenied: sts:AssumeRole"), Findings: []setupkeys.Finding{findingIn(denied, "dan", "AKIADAN0000000000001", setupkeys.StatusFail, t0)}},
	}
}

func TestNewAccountsPlan(t *testing.T) {
	p, err := NewAccountsPlan(orgResults(), acct, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	if !p.MultiAccount() || p.AccountID != acct || p.Source.Kind != SourceOrganization || !p.Resolved || p.FormatVersion != FormatVersion || p.Window != "10m0s" {
		t.Errorf("header %+v", p)
	}
	check(t, "accounts", fmt.Sprint(p.Accounts), fmt.Sprint([]PlanAccount{
		{AccountID: acct, AccountName: "management", Status: AccountAudited, Source: liveSrc},
		{AccountID: member, AccountName: "dev", Status: AccountAudited, Source: liveSrc},
		{AccountID: denied, AccountName: "locked", Status: AccountNotAudited, Error: "AccessDenied: sts:AssumeRole"},
	}))
	var planned []string
	for _, a := range p.Actions {
		planned = append(planned, a.AccountID+"/"+a.User)
	}
	check(t, "actions", planned, []string{acct + "/alice", member + "/bob"})
	check(t, "action accounts", p.ActionAccounts(), []string{acct, member})
	if len(p.Listed) != 1 || p.Listed[0].User != "carol" || p.Listed[0].AccountID != member {
		t.Errorf("listed %+v", p.Listed)
	}
	if na := p.NotAudited(); len(na) != 1 || na[0].AccountID != denied {
		t.Errorf("not audited %+v", na)
	}
	withReview, err := NewAccountsPlan(orgResults(), acct, true, 0, planNow)
	if err != nil || len(withReview.Actions) != 3 {
		t.Errorf("include review: %v %+v", err, withReview)
	}

	// Round trip through the file format.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"accounts": [`, `"status": "not-audited"`, `"error": "AccessDenied: sts:AssumeRole"`, `"kind": "organization"`, `"account_id": "222222222222"`} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("plan JSON lacks %s:\n%s", s, buf.String())
		}
	}
	back, err := ReadPlan(bytes.NewReader(buf.Bytes()), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	back.Write(&again)
	if again.String() != buf.String() {
		t.Errorf("round trip differs:\n%s\n%s", buf.String(), again.String())
	}
}

func TestNewAccountsPlanRefusals(t *testing.T) {
	if _, err := NewAccountsPlan(orgResults(), "x", false, 0, planNow); !errors.Is(err, ErrBadPlan) {
		t.Errorf("bad caller: %v", err)
	}
	mixed := orgResults()
	mixed[1].Findings = append(mixed[1].Findings, findingIn(member2, "eve", "AKIAEVE0000000000001", setupkeys.StatusFail, t0))
	if _, err := NewAccountsPlan(mixed, acct, false, 0, planNow); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "came from the audit of "+member) {
		t.Errorf("finding of another account: %v", err)
	}
	twice := append(orgResults(), orgResults()[1])
	if _, err := NewAccountsPlan(twice, acct, false, 0, planNow); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("account twice: %v", err)
	}

	p, _ := NewAccountsPlan(orgResults(), acct, false, 0, planNow)
	var buf bytes.Buffer
	p.Write(&buf)
	good := buf.String()
	for _, tt := range []struct{ name, from, to, want string }{
		{"action in an unlisted account", `"account_id": "222222222222",
      "user": "bob"`, `"account_id": "555555555555",
      "user": "bob"`, "is not one of the plan's accounts"},
		{"action in a not-audited account", `"account_id": "222222222222",
      "user": "bob"`, `"account_id": "333333333333",
      "user": "bob"`, "was not audited"},
		{"bad status", `"status": "not-audited"`, `"status": "skipped"`, `status "skipped"`},
		{"bad account", `"account_id": "333333333333",
      "account_name"`, `"account_id": "33",
      "account_name"`, "not 12 digits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(good, tt.from, tt.to, 1)
			if src == good {
				t.Fatalf("replacement %q not found in\n%s", tt.from, good)
			}
			if _, err := ReadPlan(strings.NewReader(src), "plan.json"); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrBadPlan with %q", err, tt.want)
			}
		})
	}
}

// A single-account plan is written exactly as before multi-account plans: no "accounts".
func TestSingleAccountPlanUnchanged(t *testing.T) {
	p, err := NewPlan([]setupkeys.Finding{mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)}, acct, liveSrc, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	p.Write(&buf)
	if strings.Contains(buf.String(), `"accounts"`) || p.MultiAccount() {
		t.Errorf("single-account plan:\n%s", buf.String())
	}
}

// orgWorld is a caller account and a member account, each a fake IAM with one planned key.
type orgWorld struct {
	iams    map[string]*fakeIAM
	plan    *Plan
	journal string
	reached map[string]int
}

func newOrgWorld(t *testing.T) *orgWorld {
	t.Helper()
	w := &orgWorld{iams: map[string]*fakeIAM{}, journal: filepath.Join(t.TempDir(), "journal.jsonl"), reached: map[string]int{}}
	var results []setupkeys.AccountResult
	for i, a := range []string{acct, member, member2} {
		w.iams[a] = newFakeIAM()
		id := fmt.Sprintf("AKIAORG%013d", i+1)
		w.iams[a].addKey("u"+a[:1], id, t0)
		results = append(results, setupkeys.AccountResult{AccountID: a, Source: liveSrc, Findings: []setupkeys.Finding{findingIn(a, "u"+a[:1], id, setupkeys.StatusFail, t0)}})
	}
	p, err := NewAccountsPlan(results, acct, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	w.plan = p
	return w
}

func (w *orgWorld) clientFor(ctx context.Context, account string) (IAM, error) {
	w.reached[account]++
	if account == member2 {
		return nil, errors.New("AccessDenied: sts:AssumeRole")
	}
	return w.iams[account], nil
}

func (w *orgWorld) opts() Options {
	return Options{JournalPath: w.journal, Client: w.iams[acct], ClientFor: w.clientFor, CallerAccount: acct, Now: func() time.Time { return planNow.Add(time.Hour) }}
}

func orgOutcomes(s *Summary) []string {
	var out []string
	for _, r := range s.Results {
		o := r.AccountID + ":" + string(r.Outcome)
		if r.Earlier {
			o += "(earlier)"
		}
		out = append(out, o)
	}
	return out
}

func TestApplyAndRollbackAcrossAccounts(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()

	// Credentials of a member account cannot apply the caller's plan, even for its own keys.
	o := w.opts()
	o.CallerAccount = member
	if _, err := Apply(ctx, w.plan, o); !errors.Is(err, ErrWrongAccount) || !strings.Contains(err.Error(), "made by account "+acct) {
		t.Errorf("wrong caller: %v", err)
	}
	o = w.opts()
	o.ClientFor = nil
	if _, err := Apply(ctx, w.plan, o); err == nil || !strings.Contains(err.Error(), "nothing reaches it") {
		t.Errorf("no ClientFor: %v", err)
	}

	sum, err := Apply(ctx, w.plan, w.opts())
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", orgOutcomes(sum), []string{acct + ":deactivated", member + ":deactivated", member2 + ":failed"})
	if !strings.Contains(sum.Results[2].Reason, "cannot reach account "+member2+": AccessDenied") || !sum.Failed() {
		t.Errorf("unreachable account: %+v", sum.Results[2])
	}
	check(t, "reached", w.reached, map[string]int{member: 1, member2: 1})
	if w.iams[acct].status("AKIAORG0000000000001") != "Inactive" || w.iams[member].status("AKIAORG0000000000002") != "Inactive" || w.iams[member2].status("AKIAORG0000000000003") != "Active" {
		t.Error("wrong keys changed")
	}
	entries, err := ReadJournal(w.journal)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range entries {
		lines = append(lines, fmt.Sprintf("%s %s %s via %s", e.AccountID, e.Action, e.Phase, e.CallerAccount))
	}
	check(t, "journal", lines, []string{
		acct + " deactivate intent via " + acct, acct + " deactivate done via " + acct,
		member + " deactivate intent via " + acct, member + " deactivate done via " + acct,
		member2 + " deactivate failed via " + acct,
	})
	// A re-run once the account is reachable converges: the others are not acted on again.
	reach := w.opts()
	reach.ClientFor = func(ctx context.Context, a string) (IAM, error) { return w.iams[a], nil }
	sum, err = Apply(ctx, w.plan, reach)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "re-run", orgOutcomes(sum), []string{acct + ":deactivated(earlier)", member + ":deactivated(earlier)", member2 + ":deactivated"})

	// Rollback: only the plan's caller account, each account through its client.
	if _, err := Rollback(ctx, RollbackOptions{JournalPath: w.journal, Client: w.iams[member], ClientFor: reach.ClientFor, CallerAccount: member}); !errors.Is(err, ErrWrongAccount) || !strings.Contains(err.Error(), "made by account "+acct) {
		t.Errorf("rollback by a member: %v", err)
	}
	if _, err := Rollback(ctx, RollbackOptions{JournalPath: w.journal, Client: w.iams[acct], CallerAccount: acct}); err == nil || !strings.Contains(err.Error(), "nothing reaches it") {
		t.Errorf("rollback without ClientFor: %v", err)
	}
	sum, err = Rollback(ctx, RollbackOptions{JournalPath: w.journal, Client: w.iams[acct], ClientFor: reach.ClientFor, CallerAccount: acct, VerifyDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "rollback", orgOutcomes(sum), []string{acct + ":reactivated", member + ":reactivated", member2 + ":reactivated"})
	for a, f := range w.iams {
		for _, k := range f.users {
			if k[0].status != "Active" {
				t.Errorf("account %s: key %s is %s after rollback", a, k[0].id, k[0].status)
			}
		}
	}
}

// A single-account journal is still refused from any other account, role or not.
func TestCheckRollbackAccounts(t *testing.T) {
	single := []RollbackCandidate{{AccountID: acct}}
	if err := CheckRollbackAccounts(single, acct); err != nil {
		t.Error(err)
	}
	if err := CheckRollbackAccounts(single, member); !errors.Is(err, ErrWrongAccount) || !strings.Contains(err.Error(), "deactivated keys in account "+acct) {
		t.Errorf("single from another account: %v", err)
	}
	multi := []RollbackCandidate{{AccountID: member, CallerAccount: acct}, {AccountID: acct, CallerAccount: acct}}
	if err := CheckRollbackAccounts(multi, acct); err != nil {
		t.Error(err)
	}
	if err := CheckRollbackAccounts(multi, member); !errors.Is(err, ErrWrongAccount) {
		t.Errorf("multi from a member: %v", err)
	}
}

func TestResolveRefusesUnresolvedMultiAccountPlan(t *testing.T) {
	p, _ := NewAccountsPlan(orgResults(), acct, false, 0, planNow)
	p.Actions[1].AccessKeyID = nil
	p.Resolved = false
	if _, err := Resolve(context.Background(), p, newFakeIAM(), planNow); !errors.Is(err, ErrBadPlan) {
		t.Errorf("err = %v", err)
	}
}
