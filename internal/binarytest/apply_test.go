package binarytest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// On a terminal, apply and rollback show one line per key: the progress line, then the counts,
// not every key a second time in a summary. Piped, stdout still gets the per-key summary.
func TestApplyOneLinePerKeyOnATerminal(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	srv.InPast(t, 200*24*time.Hour, func() {
		for _, u := range []string{"alice", "bob"} {
			moto.CreateConsoleUser(t, cfg, u)
			moto.CreateAccessKey(t, cfg, u)
		}
	})
	env := motoEnv(t, srv, moto.DefaultAccountID)
	plan := filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, env, "", "plan", "-o", plan); r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	r := runTTY(t, 120, env, "", "apply", plan, "--yes")
	if r.code != 0 {
		t.Fatalf("apply: exit %d:\n%s", r.code, r.stdout)
	}
	for _, u := range []string{"alice", "bob"} {
		n := 0
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.Contains(line, "deactivated") && strings.Contains(line, " "+u+" ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s appears on %d lines, want 1:\n%s", u, n, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "deactivate: 2 deactivated") {
		t.Errorf("no counts:\n%s", r.stdout)
	}
	r = runTTY(t, 120, env, "", "rollback", plan+".journal.jsonl", "--yes")
	if r.code != 0 || strings.Count(r.stdout, "reactivated alice") != 1 || strings.Contains(r.stdout, "reactivated  alice") {
		t.Errorf("rollback: exit %d:\n%s", r.code, r.stdout)
	}
}
