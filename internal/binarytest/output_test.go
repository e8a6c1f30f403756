package binarytest

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// On an 80-column terminal the table fits: every line within 80 columns, each reason on its own
// indented line under its key. A wide terminal gets the wide layout.
func TestTableFitsTheTerminal(t *testing.T) {
	r := runTTY(t, 80, cleanEnv(t), "", "audit", "--report", example())
	if r.code != 3 {
		t.Fatalf("exit %d, want 3:\n%s", r.code, r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	lines := strings.Split(r.stdout, "\n")
	found := false
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "FAIL") && strings.Contains(line, "alice.martin") {
			found = true
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "      key created at setup (4s after the user) and never used") {
				t.Errorf("alice's reason is not on its own indented line under her key:\n%s", r.stdout)
			}
		}
	}
	if !found || !strings.Contains(r.stdout, "Summary: 4 fail, 1 review, 4 pass") {
		t.Errorf("narrow table lacks alice's key or the summary:\n%s", r.stdout)
	}

	wide := runTTY(t, 400, cleanEnv(t), "", "audit", "--report", example())
	if !strings.Contains(wide.stdout, "USER CREATED") || !strings.Contains(wide.stdout, "alice.martin     1     -           2024-07-30 21:53:09") {
		t.Errorf("a 400-column terminal should get the wide layout:\n%s", wide.stdout)
	}
}

// With --strict, the summary says why a run with only review findings fails.
func TestStrictSaysWhy(t *testing.T) {
	dir := t.TempDir()
	supp := filepath.Join(dir, "s.yaml")
	// Suppress the four failing keys: only erin's review finding is left.
	writeFile(t, supp, `suppressions:
  - user: alice.martin
    reason: accepted
  - user: bob@example.com
    reason: accepted
  - user: dave,ops
    reason: accepted
  - user: heidi
    reason: accepted
`)
	r := run(t, cleanEnv(t), "", "audit", "--report", example(), "--suppressions", supp, "--strict")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Summary: 0 fail, 1 review") || !strings.Contains(r.stdout, "--strict: the 1 review finding counts as a failure, so the run fails (exit 3).") {
		t.Errorf("summary does not say why --strict failed:\n%s", r.stdout)
	}
	if r := run(t, cleanEnv(t), "", "audit", "--report", example(), "--suppressions", supp); r.code != 0 || strings.Contains(r.stdout, "--strict") {
		t.Errorf("without --strict: exit %d\n%s", r.code, r.stdout)
	}
}

// CSV carries the suppression's reason, expiry and former status, and the run's warnings reach
// stderr, for CSV and for a table that is not on a terminal.
func TestCSVSuppressionsAndWarnings(t *testing.T) {
	dir := t.TempDir()
	supp := filepath.Join(dir, "s.yaml")
	writeFile(t, supp, "suppressions:\n  - user: alice.martin\n    reason: break-glass, see SEC-1\n    expires: 2099-01-31\n")
	// A report with alice's row twice: a duplicate-row warning.
	data, err := os.ReadFile(example())
	if err != nil {
		t.Fatal(err)
	}
	var aliceRow string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "alice.martin,") {
			aliceRow = l
		}
	}
	doubled := filepath.Join(dir, "doubled.csv")
	writeFile(t, doubled, strings.TrimRight(string(data), "\n")+"\n"+aliceRow+"\n")

	for _, format := range []string{"csv", "table"} {
		r := run(t, cleanEnv(t), "", "audit", "--report", doubled, "--suppressions", supp, "--format", format)
		if r.code != 3 {
			t.Fatalf("%s: exit %d: %s", format, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "setupkeys: warning: ") || !strings.Contains(r.stderr, "alice.martin") {
			t.Errorf("%s: the duplicate-row warning is not on stderr: %q", format, r.stderr)
		}
		if format != "csv" {
			continue
		}
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, name := range rows[0] {
			col[name] = i
		}
		var got []string
		for _, row := range rows[1:] {
			if row[col["user"]] == "alice.martin" {
				got = []string{row[col["status"]], row[col["suppression_reason"]], row[col["suppression_expires"]], row[col["suppression_was"]]}
			}
		}
		if strings.Join(got, "|") != "suppressed|break-glass, see SEC-1|2099-01-31T00:00:00Z|fail" {
			t.Errorf("alice's CSV row: %q", got)
		}
	}
}

// Accounts that could not be audited reach stderr with CSV (which has no place for them), and
// the table does not say "0 users" of them.
func TestAccountErrorsReachStderr(t *testing.T) {
	srv := moto.Shared(t)
	env := motoEnv(t, srv, moto.DefaultAccountID)
	args := []string{"audit", "--accounts", "111111111111,222222222222", "--account-timeout", "1ms", "--quiet"}
	r := run(t, env, "", append(args, "--format", "csv")...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	for _, id := range []string{"111111111111", "222222222222"} {
		if !strings.Contains(r.stderr, "setupkeys: error: account "+id+": could not be audited: ") {
			t.Errorf("stderr does not name account %s: %q", id, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "setupkeys: 2 of 2 accounts could not be audited\n") {
		t.Errorf("stderr lacks the count: %q", r.stderr)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("CSV should be the header alone: %q", r.stdout)
	}
	r = run(t, env, "", args...)
	if strings.Contains(r.stdout, "0 users") || !strings.Contains(r.stdout, "Account 111111111111: could not be audited\n  ERROR: ") {
		t.Errorf("table:\n%s", r.stdout)
	}
}

// plan exits 1 when a selected account could not be audited, and still writes the plan.
func TestPlanExits1WhenAnAccountIsNotAudited(t *testing.T) {
	srv := moto.Shared(t)
	plan := filepath.Join(t.TempDir(), "plan.json")
	r := run(t, motoEnv(t, srv, moto.DefaultAccountID), "", "plan", "--accounts", "111111111111", "--account-timeout", "1ms", "--quiet", "-o", plan)
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 1 accounts could not be audited") {
		t.Errorf("exit %d, stderr %q; want 1 and the count", r.code, r.stderr)
	}
	if data, err := os.ReadFile(plan); err != nil || !strings.Contains(string(data), `"not-audited"`) {
		t.Errorf("the plan should be written, naming the account not audited: %v\n%s", err, data)
	}
}
