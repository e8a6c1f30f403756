package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// plan prints the digest of the file it wrote; apply --plan-digest refuses any other file (exit
// 2, nothing changed); a plan edited to name a key the rule does not flag changes nothing and
// apply exits non-zero; the approved file applies and its digest is journaled.
func TestPlanDigestAndEditedPlan(t *testing.T) {
	const acct = "111111111111"
	fake := memiam.New()
	fake.Now = func() time.Time { return fixedNow }
	fake.AddAccount(acct, "management")
	created := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	const aliceKey, botKey = "AKIAALICE00000000000", "AKIASVCBOT0000000000"
	fake.AddUser(acct, memiam.User{Name: "alice", Created: created, Console: true, Keys: []memiam.Key{{ID: aliceKey, Created: created.Add(2 * time.Second)}}})
	// A programmatic user: no console password, so the rule never flags its key.
	fake.AddUser(acct, memiam.User{Name: "svc-bot", Created: created, Keys: []memiam.Key{{ID: botKey, Created: created.Add(2 * time.Second)}}})
	runCLI := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, memClients{fake, acct}, false, stdin, args...)
	}
	statuses := func() map[string]string { return memStatuses(fake, acct, map[string]string{aliceKey: "", botKey: ""}) }
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")

	code, _, errOut := runCLI(t, "", "plan", "--exact", "-o", plan)
	if code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	data, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	for _, s := range []string{"Plan file digest: " + digest + "\n", "setupkeys apply " + plan + " --plan-digest " + digest + "\n"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("plan's stderr lacks %q:\n%s", s, errOut)
		}
	}

	// The same plan with the bot's key in alice's place: another file.
	edited := filepath.Join(dir, "edited.json")
	os.WriteFile(edited, []byte(strings.ReplaceAll(strings.ReplaceAll(string(data), aliceKey, botKey), `"user": "alice"`, `"user": "svc-bot"`)), 0o600)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"another file than approved", []string{"apply", edited, "--yes", "--plan-digest", digest}, "edited.json: the plan file's digest is sha256:"},
		{"not a digest", []string{"apply", plan, "--yes", "--plan-digest", "abc"}, `--plan-digest: "abc" is not a plan digest`},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != ExitBadInput || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, want 2 with %q\n%s%s", tt.name, code, tt.want, out, errOut)
		}
	}
	if st := statuses(); st[aliceKey] != "Active" || st[botKey] != "Active" {
		t.Fatalf("a refused apply changed keys: %v", st)
	}

	// Applied anyway (no --plan-digest): the key check leaves the bot's key alone, exit 1.
	code, out, errOut := runCLI(t, "", "apply", edited, "--yes", "--journal", filepath.Join(dir, "edited.jsonl"))
	if code != ExitError || !strings.Contains(errOut, "skipped svc-bot AKIA************0000: the user has no console password now") ||
		!strings.Contains(errOut, "none of the plan's 1 key could be acted on") {
		t.Errorf("edited plan: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if st := statuses(); st[botKey] != "Active" {
		t.Fatalf("the bot's key was touched: %v", st)
	}

	journal := filepath.Join(dir, "plan.jsonl")
	code, out, errOut = runCLI(t, "", "apply", plan, "--yes", "--plan-digest", strings.ToUpper(strings.TrimPrefix(digest, "sha256:")), "--journal", journal)
	if code != ExitOK || !strings.Contains(errOut, "(file digest "+digest+")") {
		t.Fatalf("approved plan: exit %d\n%s%s", code, out, errOut)
	}
	if st := statuses(); st[aliceKey] != "Inactive" || st[botKey] != "Active" {
		t.Errorf("after apply: %v", st)
	}
	entries, err := remediate.ReadJournal(journal)
	if err != nil || len(entries) != 2 {
		t.Fatalf("journal: %v %v", entries, err)
	}
	for _, e := range entries {
		if e.PlanDigest != digest {
			t.Errorf("journal entry %+v lacks the plan digest", e)
		}
	}
}
