package remediate

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

func TestResolve(t *testing.T) {
	const (
		aliceKey = "AKIAALICE00000000001"
		bobKey1  = "AKIABOB0000000000001"
		bobKey2  = "AKIABOB0000000000002"
	)
	type planned struct {
		user string
		slot int
	}
	tests := []struct {
		name  string
		setup func(f *fakeIAM)
		// plan is planned besides alice's key, which always resolves.
		plan []planned
		// wantKeys are the actions' key IDs after Resolve, in plan order.
		wantKeys []string
		// wantListed are "user: substring of why" for the keys moved to Listed.
		wantListed []string
	}{
		{
			name:     "resolves",
			wantKeys: []string{aliceKey},
		},
		{
			name:       "used since the report",
			setup:      func(f *fakeIAM) { f.addKey("bob", bobKey1, t0); f.use(bobKey1, planNow) },
			plan:       []planned{{"bob", 1}},
			wantKeys:   []string{aliceKey},
			wantListed: []string{"bob: the key has been used since the report (last used 2025-05-01T12:00:00Z)"},
		},
		{
			name:       "inactive",
			setup:      func(f *fakeIAM) { f.addKey("bob", bobKey1, t0).status = "Inactive" },
			plan:       []planned{{"bob", 1}},
			wantKeys:   []string{aliceKey},
			wantListed: []string{"bob: the key is Inactive now"},
		},
		{
			name:       "key gone",
			setup:      func(f *fakeIAM) { f.addKey("bob", bobKey1, t0.Add(time.Hour)) },
			plan:       []planned{{"bob", 1}},
			wantKeys:   []string{aliceKey},
			wantListed: []string{"bob: no key of the user created in that second exists now"},
		},
		{
			name:       "user gone",
			plan:       []planned{{"bob", 1}},
			wantKeys:   []string{aliceKey},
			wantListed: []string{"bob: the user no longer exists"},
		},
		{
			// One key planned, two Active never-used keys of that second: both are flagged
			// now; the planned key takes one (by key ID), the other is named, not planned.
			name: "more flagged keys in the second than planned",
			setup: func(f *fakeIAM) {
				f.addKey("bob", bobKey2, t0.Add(100*time.Millisecond))
				f.addKey("bob", bobKey1, t0.Add(900*time.Millisecond))
			},
			plan:       []planned{{"bob", 1}},
			wantKeys:   []string{aliceKey, bobKey1},
			wantListed: []string{"bob: not planned: created 2024-03-01T10:00:00Z like a planned key and fail now, but the report did not flag it"},
		},
		{
			// Two keys in the same second, both planned: both resolved.
			name: "twins both planned",
			setup: func(f *fakeIAM) {
				f.addKey("bob", bobKey2, t0.Add(100*time.Millisecond))
				f.addKey("bob", bobKey1, t0.Add(900*time.Millisecond))
			},
			plan:     []planned{{"bob", 1}, {"bob", 2}},
			wantKeys: []string{aliceKey, bobKey1, bobKey2},
		},
		{
			// Two planned in the same second, one used since: the other is surely planned.
			name: "twins one used",
			setup: func(f *fakeIAM) {
				f.addKey("bob", bobKey1, t0)
				f.addKey("bob", bobKey2, t0)
				f.use(bobKey1, planNow)
			},
			plan:       []planned{{"bob", 1}, {"bob", 2}},
			wantKeys:   []string{aliceKey, bobKey2},
			wantListed: []string{"bob: has been used since the report"},
		},
		{
			name:       "all unresolvable",
			setup:      func(f *fakeIAM) { f.deleteUser("alice") },
			wantKeys:   []string{},
			wantListed: []string{"alice: the user no longer exists"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIAM()
			f.addKey("alice", aliceKey, t0.Add(300*time.Millisecond))
			f.addKey("alice", "AKIAALICE00000000002", t0.Add(time.Hour)) // a later key
			if tt.setup != nil {
				tt.setup(f)
			}
			src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "r.csv"}
			findings := []setupkeys.Finding{mkFinding("alice", "", 1, setupkeys.StatusFail, t0)}
			for _, x := range tt.plan {
				findings = append(findings, mkFinding(x.user, "", x.slot, setupkeys.StatusFail, t0))
			}
			p, err := NewPlan(findings, acct, src, false, 0, planNow)
			if err != nil {
				t.Fatal(err)
			}
			id := p.ID
			res, err := Resolve(context.Background(), p, f, planNow)
			if err != nil {
				t.Fatal(err)
			}
			moved := append(res.Unresolved, res.Unplanned...)
			got := []string{}
			for _, a := range p.Actions {
				got = append(got, a.KeyID())
			}
			check(t, "keys", got, tt.wantKeys)
			if len(moved) != len(tt.wantListed) || len(p.Listed) != len(moved) || (len(moved) > 0 && !reflect.DeepEqual(moved, p.Listed)) {
				t.Fatalf("moved %+v, listed %+v, want %q", moved, p.Listed, tt.wantListed)
			}
			for i, want := range tt.wantListed {
				user, sub, _ := strings.Cut(want, ": ")
				l := moved[i]
				if strings.HasPrefix(l.Why, "not planned: ") {
					if l.User != user || !strings.HasPrefix(l.Why, sub) || l.AccessKeyID == nil || l.FindingID != "" {
						t.Errorf("listed[%d] = %+v, want %s with %q", i, l, user, sub)
					}
					continue
				}
				if l.User != user || !strings.HasPrefix(l.Why, "unresolved: key created 2024-03-01T10:00:00Z: ") || !strings.Contains(l.Why, sub) || !strings.HasSuffix(l.Why, "; not planned") || l.AccessKeyID != nil || l.Status != setupkeys.StatusFail || l.FindingID == "" {
					t.Errorf("listed[%d] = %+v, want %s with %q", i, l, user, sub)
				}
			}
			if !p.Resolved || p.ResolvedAt == nil || !p.ResolvedAt.Equal(planNow) || p.ID != id {
				t.Errorf("resolved %v at %v, id %s (was %s)", p.Resolved, p.ResolvedAt, p.ID, id)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
			// What resolved is applied; nothing else is touched.
			sum, err := Apply(context.Background(), p, Options{JournalPath: t.TempDir() + "/j", Client: f, CallerAccount: acct})
			if err != nil || sum.Failed() || sum.Counts()[OutcomeDeactivated] != len(tt.wantKeys) {
				t.Errorf("apply after resolve: %v %+v", err, sum)
			}
		})
	}
}

// An AWS error stops Resolve and leaves the plan as it was.
func TestResolveErrorLeavesPlan(t *testing.T) {
	f := newFakeIAM()
	f.addKey("alice", "AKIAALICE00000000001", t0)
	f.addKey("bob", "AKIABOB0000000000001", t0)
	f.before = func(op, id string) error {
		if op == "ListAccessKeys" && id == "bob" {
			return apiErr("Throttling")
		}
		return nil
	}
	src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "r.csv"}
	p, _ := NewPlan([]setupkeys.Finding{mkFinding("alice", "", 1, setupkeys.StatusFail, t0), mkFinding("bob", "", 1, setupkeys.StatusFail, t0)}, acct, src, false, 0, planNow)
	var before, after strings.Builder
	p.Write(&before)
	moved, err := Resolve(context.Background(), p, f, planNow)
	var ae interface{ ErrorCode() string }
	if !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" || moved.Unresolved != nil || moved.Unplanned != nil {
		t.Fatalf("err = %v, moved %v", err, moved)
	}
	p.Write(&after)
	if before.String() != after.String() {
		t.Errorf("the plan changed:\n%s\n%s", before.String(), after.String())
	}
}
