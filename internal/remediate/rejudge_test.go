package remediate

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Right before acting, apply re-runs the rule on live facts: a plan, stale or edited, touches no
// key the rule does not flag at that moment, and each skip says why.
func TestApplyRejudgesEachKey(t *testing.T) {
	tests := []struct {
		name string
		// change alters the live account (or the plan) after the plan was made.
		change  func(w *world)
		want    string // outcome of u1
		wantWhy string
	}{
		{name: "still flagged: deactivated", want: "u1:deactivated"},
		{
			name:    "console password removed after the plan",
			change:  func(w *world) { w.iam.person("u1", func(p *fakePerson) { p.noPassword = true }) },
			want:    "u1:skipped",
			wantWhy: "the user has no console password now, so the rule does not flag the key",
		},
		{
			name: "the key was made long after the user (a window too wide when planned)",
			change: func(w *world) {
				w.iam.person("u1", func(p *fakePerson) { p.created = t0.Add(-3 * time.Hour) })
				w.plan.Actions[0].Preconditions.UserCreated = t0.Add(-3 * time.Hour)
			},
			want:    "u1:skipped",
			wantWhy: "the rule does not flag the key now: key created 3h0m0s after the user, outside the 10m0s setup window",
		},
		{
			name: "the plan's own window decides",
			change: func(w *world) {
				w.iam.person("u1", func(p *fakePerson) { p.created = t0.Add(-3 * time.Hour) })
				w.plan.Actions[0].Preconditions.UserCreated = t0.Add(-3 * time.Hour)
				w.plan.Window = "4h0m0s"
			},
			want: "u1:deactivated",
		},
		{
			name: "a format 1 plan is judged with the default window",
			change: func(w *world) {
				w.iam.person("u1", func(p *fakePerson) { p.created = t0.Add(-3 * time.Hour) })
				w.plan.Actions[0].Preconditions.UserCreated = time.Time{} // not recorded then
				w.plan.FormatVersion, w.plan.Window = FormatVersion1, ""
			},
			want:    "u1:skipped",
			wantWhy: "outside the 10m0s setup window",
		},
		{
			name: "the plan names another user's key",
			change: func(w *world) {
				w.iam.addKey("mallory", "AKIAMALLORY000000001", t0)
				id := "AKIAMALLORY000000001"
				w.plan.Actions[0].AccessKeyID = &id
			},
			want:    "u1:refused",
			wantWhy: "the plan does not describe this key (edited, or made for another account): the key belongs to user mallory, not u1",
		},
		{
			name: "the plan's create date of the key was edited",
			change: func(w *world) {
				w.plan.Actions[0].Preconditions.CreateDate = t0.Add(-time.Minute)
			},
			want:    "u1:refused",
			wantWhy: "the plan does not describe this key (edited, or made for another account): the key's create date 2024-03-01T10:00:00Z differs from the expected 2024-03-01T09:59:00Z",
		},
		{
			name:    "the plan's user creation is not the live user's (an edited plan)",
			change:  func(w *world) { w.iam.person("u1", func(p *fakePerson) { p.created = planNow }) },
			want:    "u1:refused",
			wantWhy: "the plan does not describe this key (edited, or made for another account): the user was created at",
		},
		{
			name: "a plan without the user's creation: the rule on GetUser's decides",
			change: func(w *world) {
				w.iam.person("u1", func(p *fakePerson) { p.created = planNow })
				w.plan.Actions[0].Preconditions.UserCreated = time.Time{}
			},
			want:    "u1:skipped",
			wantWhy: "before the user, outside the 10m0s setup window",
		},
		{
			name:    "the key was used since the plan",
			change:  func(w *world) { w.iam.use(key(1), planNow.Add(time.Hour)) },
			want:    "u1:skipped",
			wantWhy: "the key has been used since the plan",
		},
		{
			name:    "the key was deactivated since the plan",
			change:  func(w *world) { w.iam.mu.Lock(); _, k := w.iam.key(key(1)); k.status = "Inactive"; w.iam.mu.Unlock() },
			want:    "u1:skipped",
			wantWhy: "the key is already Inactive",
		},
		{
			name:    "the key was deleted since the plan",
			change:  func(w *world) { w.iam.mu.Lock(); w.iam.users["u1"] = w.iam.users["u1"][:1]; w.iam.mu.Unlock() },
			want:    "u1:skipped",
			wantWhy: "the key no longer exists",
		},
		{
			name:    "the user was deleted since the plan",
			change:  func(w *world) { w.iam.mu.Lock(); delete(w.iam.users, "u1"); w.iam.mu.Unlock() },
			want:    "u1:skipped",
			wantWhy: "the user no longer exists",
		},
		{
			name: "GetAccessKeyLastUsed keeps failing: not verified, failed",
			change: func(w *world) {
				w.iam.before = func(op, _ string) error {
					if op == "GetAccessKeyLastUsed" {
						return apiErr("ServiceFailure")
					}
					return nil
				}
			},
			want:    "u1:failed",
			wantWhy: "cannot check the key: user u1: iam GetAccessKeyLastUsed",
		},
		{
			name: "ListAccessKeys keeps failing: not verified, failed",
			change: func(w *world) {
				w.iam.before = func(op, _ string) error {
					if op == "ListAccessKeys" {
						return apiErr("AccessDenied")
					}
					return nil
				}
			},
			want:    "u1:failed",
			wantWhy: "cannot check the key: user u1: iam ListAccessKeys",
		},
		{
			name: "a review key in a plan without include_review",
			change: func(w *world) {
				old := time.Date(2014, 5, 1, 8, 0, 0, 0, time.UTC)
				w.iam.mu.Lock()
				_, k := w.iam.key(key(1))
				k.created = old
				w.iam.people["u1"].created = old
				w.iam.mu.Unlock()
				w.plan.Actions[0].Preconditions.CreateDate = old
				w.plan.Actions[0].Preconditions.UserCreated = old
			},
			want:    "u1:skipped",
			wantWhy: "the rule makes the key a review finding and the plan does not include review findings",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, 1)
			if tt.change != nil {
				tt.change(w)
			}
			sum, err := Apply(context.Background(), w.plan, w.opts(ActionDeactivate))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "outcomes", outcomes(sum), []string{tt.want})
			if r := sum.Results[0]; !strings.Contains(r.Reason, tt.wantWhy) {
				t.Errorf("reason %q, want %q", r.Reason, tt.wantWhy)
			}
			done := strings.HasSuffix(tt.want, ":deactivated")
			if sum.NothingApplied() == done {
				t.Errorf("NothingApplied = %v with %v", sum.NothingApplied(), outcomes(sum))
			}
			if !done && len(w.iam.writeLog()) != 0 {
				t.Errorf("a key not acted on was written to: %v", w.iam.writeLog())
			}
			// Refused and failed keys make the run fail; skipped ones do not.
			unverified := strings.HasSuffix(tt.want, ":refused") || strings.HasSuffix(tt.want, ":failed")
			if got := sum.Failed() || sum.Refused() > 0; got != unverified {
				t.Errorf("failed or refused = %v with %v", got, outcomes(sum))
			}
		})
	}
}

// The digest of the plan file read is in every journal entry of the run.
func TestApplyJournalsPlanDigest(t *testing.T) {
	w := newWorld(t, 2)
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := w.plan.Save(path); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Digest != w.plan.Digest || !strings.HasPrefix(p.Digest, "sha256:") || len(p.Digest) != len("sha256:")+64 {
		t.Fatalf("read digest %q, wrote %q", p.Digest, w.plan.Digest)
	}
	if _, err := Apply(context.Background(), p, w.opts(ActionDeactivate)); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadJournal(w.journal)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.PlanDigest != p.Digest {
			t.Errorf("entry %+v: plan digest %q, want %q", e, e.PlanDigest, p.Digest)
		}
	}
	if len(entries) != 4 {
		t.Errorf("%d entries", len(entries))
	}
}

func TestPlanDigest(t *testing.T) {
	w := newWorld(t, 1)
	var a, b bytes.Buffer
	if err := w.plan.Write(&a); err != nil {
		t.Fatal(err)
	}
	if w.plan.Digest != FileDigest(a.Bytes()) {
		t.Errorf("Write set %q, the bytes' digest is %q", w.plan.Digest, FileDigest(a.Bytes()))
	}
	// One byte more (white space a JSON reader ignores) is another file, another digest.
	b.Write(a.Bytes())
	b.WriteString(" ")
	p, err := ReadPlan(&b, "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	if p.Digest == w.plan.Digest || p.Digest != FileDigest(append(a.Bytes(), ' ')) {
		t.Errorf("digest of the edited file %q, of the original %q", p.Digest, w.plan.Digest)
	}
	hex := strings.TrimPrefix(w.plan.Digest, "sha256:")
	for _, in := range []string{w.plan.Digest, hex, strings.ToUpper(hex), " sha256:" + hex + "\n"} {
		if got, err := ParseDigest(in); err != nil || got != w.plan.Digest {
			t.Errorf("ParseDigest(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "sha256:", "sha256:abc", "md5:" + hex, hex + "00", "sha256:" + strings.Repeat("g", 64)} {
		if _, err := ParseDigest(in); err == nil {
			t.Errorf("ParseDigest(%q) accepted", in)
		}
	}
}
