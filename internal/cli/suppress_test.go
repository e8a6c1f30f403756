package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/report"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// Suppressions work on a report file: a suppressed fail no longer fails the run, an expired one
// stops applying and says so, and a bad file is bad input.
func TestAuditSuppressions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := write("all.yaml", `suppressions:
  - account: "123456789012"
    user_path: /
    reason: sandbox account, keys expire with it
`)
	expired := write("expired.yaml", `suppressions:
  - user: alice.martin
    reason: waiting for the vendor
    expires: 2026-01-01
`)
	bad := write("bad.yaml", "suppressions:\n  - user: alice\n")

	code, out, errOut := runCLI(t, "", "audit", "--report", exampleReport, "--suppressions", all, "--format", "json")
	if code != ExitOK {
		t.Fatalf("everything suppressed: exit %d, want 0 (%s)", code, errOut)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Fail != 0 || doc.Summary.Review != 0 || doc.Summary.Suppressed != 5 {
		t.Errorf("summary %+v, want 5 suppressed", doc.Summary)
	}
	for _, f := range doc.Findings {
		if f.Suppression == nil || f.Suppression.Reason != "sandbox account, keys expire with it" || f.Suppression.Was == "" {
			t.Errorf("suppressed finding lacks its note: %+v", f)
		}
	}

	code, out, _ = runCLI(t, "", "audit", "--report", exampleReport, "--suppressions", expired)
	if code != ExitFailed || !contains(out, "expired on 2026-01-01") || !contains(out, "FAIL    alice.martin") {
		t.Errorf("expired suppression: exit %d, output:\n%s", code, out)
	}

	code, _, errOut = runCLI(t, "", "audit", "--report", exampleReport, "--suppressions", bad)
	if code != ExitBadInput || !contains(errOut, "bad.yaml:2") {
		t.Errorf("bad suppression file: exit %d, stderr %q", code, errOut)
	}
}
