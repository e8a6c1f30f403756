package remediate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

func TestResolve(t *testing.T) {
	f := newFakeIAM()
	// alice: the setup key and a later one.
	f.addKey("alice", "AKIAALICE00000000001", t0.Add(300*time.Millisecond))
	f.addKey("alice", "AKIAALICE00000000002", t0.Add(time.Hour))
	// bob: two keys in the same second, both planned.
	f.addKey("bob", "AKIABOB0000000000002", t0.Add(100*time.Millisecond))
	f.addKey("bob", "AKIABOB0000000000001", t0.Add(900*time.Millisecond))
	// carol: the key was used since the report.
	f.addKey("carol", "AKIACAROL00000000001", t0)
	f.use("AKIACAROL00000000001", planNow)
	// dave: user gone.
	src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "r.csv"}
	var findings []setupkeys.Finding
	for _, x := range []struct {
		user string
		slot int
	}{{"alice", 1}, {"bob", 1}, {"bob", 2}, {"carol", 1}, {"dave", 1}} {
		findings = append(findings, mkFinding(x.user, "", x.slot, setupkeys.StatusFail, t0))
	}
	p, err := NewPlan(findings, acct, src, false, planNow)
	if err != nil {
		t.Fatal(err)
	}
	id := p.ID
	problems, err := Resolve(context.Background(), p, f, planNow)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, a := range p.Actions {
		got = append(got, a.KeyID())
	}
	check(t, "keys", got, []string{"AKIAALICE00000000001", "AKIABOB0000000000001", "AKIABOB0000000000002", "", ""})
	if len(problems) != 2 || !strings.Contains(problems[0], "carol") || !strings.Contains(problems[0], "used since the report") || !strings.Contains(problems[1], "dave") || !strings.Contains(problems[1], "no live key matches") {
		t.Errorf("problems = %q", problems)
	}
	if p.Resolved || p.ResolvedAt != nil || p.ID != id {
		t.Errorf("resolved %v at %v, id %s", p.Resolved, p.ResolvedAt, p.ID)
	}
	// Without the unresolvable keys the plan is resolved and can be applied.
	p.Actions = p.Actions[:3]
	if _, err := Resolve(context.Background(), p, f, planNow); err != nil {
		t.Fatal(err)
	}
	if !p.Resolved || p.ResolvedAt == nil {
		t.Errorf("resolved %v", p.Resolved)
	}
	sum, err := Apply(context.Background(), p, Options{JournalPath: t.TempDir() + "/j", Client: f, CallerAccount: acct})
	if err != nil || sum.Failed() || sum.Counts()[OutcomeDeactivated] != 3 {
		t.Errorf("apply after resolve: %v %+v", err, sum)
	}
}
