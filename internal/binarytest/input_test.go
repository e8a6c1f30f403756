package binarytest

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A report file that says when it was generated (the JSON of get-credential-report) is warned
// about by its age, as the live report is.
func TestOldReportFileWarns(t *testing.T) {
	data, err := os.ReadFile(example())
	if err != nil {
		t.Fatal(err)
	}
	content := base64.StdEncoding.EncodeToString(data)
	old := filepath.Join(t.TempDir(), "old.json")
	writeFile(t, old, `{"Content": "`+content+`", "ReportFormat": "text/csv", "GeneratedTime": "2015-01-01T00:00:00+00:00"}`)
	r := run(t, cleanEnv(t), "", "audit", "--report", old)
	if r.code != 3 || !strings.Contains(r.stderr, "setupkeys: warning: the report was generated at 2015-01-01T00:00:00Z, ") {
		t.Errorf("exit %d, stderr %q; want 3 and a warning of the report's age", r.code, r.stderr)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.csv")
	writeFile(t, fresh, string(data))
	if r := run(t, cleanEnv(t), "", "audit", "--report", fresh); strings.Contains(r.stderr, "generated at") {
		t.Errorf("a CSV carries no generation time, so no age warning: %q", r.stderr)
	}
}

// The AWS CLI's --output text is one tab-separated line; the error says to use --output json.
func TestCLITextOutputHint(t *testing.T) {
	data, err := os.ReadFile(example())
	if err != nil {
		t.Fatal(err)
	}
	text := base64.StdEncoding.EncodeToString(data) + "\t2026-11-27T11:20:00+00:00\ttext/csv\n"
	r := run(t, cleanEnv(t), text, "audit", "--report", "-")
	if r.code != 2 || !strings.Contains(r.stderr, "hint: this looks like the AWS CLI's --output text") || !strings.Contains(r.stderr, "--output json") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	// Other garbage gets no such hint.
	r = run(t, cleanEnv(t), "not a report\n", "audit", "--report", "-")
	if r.code != 2 || strings.Contains(r.stderr, "hint:") {
		t.Errorf("garbage: exit %d, stderr %q", r.code, r.stderr)
	}
}

// --report - at a terminal says what it waits for instead of waiting silently.
func TestReportFromTerminalHint(t *testing.T) {
	r := runTTY(t, 80, cleanEnv(t), "\x04", "audit", "--report", "-")
	if !strings.Contains(r.stdout, "reading the credential report from the terminal") || r.code != 2 {
		t.Errorf("exit %d, terminal:\n%s", r.code, r.stdout)
	}
	// Piped, no hint.
	if r := run(t, cleanEnv(t), "", "audit", "--report", "-"); strings.Contains(r.stderr, "from the terminal") {
		t.Errorf("piped stdin got the terminal hint: %q", r.stderr)
	}
}
