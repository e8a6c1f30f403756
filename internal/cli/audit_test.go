package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys/internal/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const exampleReport = "../../examples/credential-report.csv"

// runCLI runs the command tree as main does and returns the exit code and both streams.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// StdoutIsTTY: golden files are easier to read indented.
	f := &Factory{IO: IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, StdoutIsTTY: true}, Now: func() time.Time { return fixedNow }}
	root := NewCmdRoot(f, "test")
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code, msg := ExitCode(err)
	if msg != "" {
		errOut.WriteString(msg + "\n")
	}
	return code, out.String(), errOut.String()
}

func TestAuditFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o *AuditOptions)
	}{
		{"defaults", []string{"--report", "r.csv"}, "", func(t *testing.T, o *AuditOptions) {
			if len(o.Outputs) != 1 || o.Outputs[0] != (Output{Format: "table"}) || o.Source.Window != 10*time.Minute || o.All || o.Strict || o.ShowKeyIDs || o.Source.Exact {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{"everything", []string{"--profile", "p", "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:1", "--exact", "--format", "json", "--all", "--strict", "--window", "90s", "--show-key-ids"}, "", func(t *testing.T, o *AuditOptions) {
			s := o.Source
			if s.AWS.Profile != "p" || s.AWS.Region != "eu-west-1" || s.AWS.EndpointURL != "http://127.0.0.1:1" || !s.Exact || len(o.Outputs) != 1 || o.Outputs[0] != (Output{Format: "json"}) || !o.All || !o.Strict || s.Window != 90*time.Second || !o.ShowKeyIDs {
				t.Errorf("parsed: %+v", o)
			}
		}},
		{"bad format", []string{"--report", "r", "--format", "xml"}, `--format "xml"`, nil},
		{"bad window", []string{"--report", "r", "--window", "ten"}, "invalid argument", nil},
		{"negative window", []string{"--report", "r", "--window", "-1m"}, "--window must be positive", nil},
		{"report and exact", []string{"--report", "r", "--exact"}, "exclude each other", nil},
		{"report and profile", []string{"--report", "r", "--profile", "x"}, "do not apply", nil},
		{"stray argument", []string{"extra"}, "accepts 0 arg", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *AuditOptions
			f := &Factory{IO: IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Now: time.Now}
			cmd := NewCmdAudit(f, func(_ context.Context, o *AuditOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return BadInput(err) })
			err := cmd.Execute()
			if tt.wantErr != "" {
				code, msg := ExitCode(err)
				if code != ExitBadInput || !strings.Contains(msg, tt.wantErr) {
					t.Fatalf("got exit %d %q, want exit 2 with %q", code, msg, tt.wantErr)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("err %v, options %v", err, got)
			}
			tt.check(t, got)
		})
	}
}

func TestAuditExample(t *testing.T) {
	for _, format := range report.Formats {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", "audit", "--report", exampleReport, "--format", format, "--all")
			if code != ExitFailed {
				t.Fatalf("exit %d, want 3 (stderr %q)", code, errOut)
			}
			golden(t, filepath.Join("testdata", "example."+format), out)
		})
	}
}

func TestAuditExampleJSONContract(t *testing.T) {
	code, out, _ := runCLI(t, "", "audit", "--report", exampleReport, "--format", "json")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 3", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"schema_version", "source", "summary", "findings"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	findings := doc["findings"].([]any)
	if len(findings) != 5 {
		t.Fatalf("%d findings without --all, want 4 fail + 1 review", len(findings))
	}
	want := map[string]bool{"account_id": true, "user": true, "arn": true, "key_slot": true, "access_key_id": true, "status": true, "user_created": true, "key_created": true, "last_used": true, "reason": true}
	first := findings[0].(map[string]any)
	for key := range want {
		if _, ok := first[key]; !ok {
			t.Errorf("finding lacks %q: %v", key, first)
		}
	}
	if first["access_key_id"] != nil || first["last_used"] != nil {
		t.Errorf("a report file has no key IDs and these keys were never used: %v", first)
	}
	summary := doc["summary"].(map[string]any)
	if summary["fail"] != 4.0 || summary["review"] != 1.0 || summary["pass"] != 4.0 || summary["users"] != 11.0 {
		t.Errorf("summary %v", summary)
	}
}

func TestAuditExitCodes(t *testing.T) {
	csv, err := os.ReadFile(exampleReport)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(csv), "\n")
	onlyReview := lines[0] + "\n" + lines[6] + "\n" // erin: created 2014, never used
	if !strings.HasPrefix(lines[6], "erin,") {
		t.Fatalf("example changed: line 7 is %q", lines[6])
	}
	nothing := lines[0] + "\n" + lines[4] + "\n" // carol: used
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  int
	}{
		{"fail", "", []string{"--report", exampleReport}, ExitFailed},
		{"review alone passes", onlyReview, []string{"--report", "-"}, ExitOK},
		{"review with --strict fails", onlyReview, []string{"--report", "-", "--strict"}, ExitFailed},
		{"clean report", nothing, []string{"--report", "-"}, ExitOK},
		{"recorded AWS report: nothing fails", "", []string{"--report", "../credreport/testdata/recorded-2016.csv"}, ExitOK},
		{"cli json on stdin", `{"Content":"` + base64.StdEncoding.EncodeToString(csv) + `","ReportFormat":"text/csv","GeneratedTime":"2026-11-27T01:00:00+00:00"}`, []string{"--report", "-"}, ExitFailed},
		{"base64 on stdin", base64.StdEncoding.EncodeToString(csv), []string{"--report", "-"}, ExitFailed},
		{"missing file", "", []string{"--report", "does-not-exist.csv"}, ExitBadInput},
		{"garbage", "not a report", []string{"--report", "-"}, ExitBadInput},
		{"truncated json", `{"Content":"dXNlcg`, []string{"--report", "-"}, ExitBadInput},
		{"unknown flag", "", []string{"--bogus"}, ExitBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.stdin, append([]string{"audit"}, tt.args...)...)
			if code != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.want, errOut)
			}
			if tt.want == ExitBadInput && (errOut == "" || strings.Count(strings.TrimSpace(errOut), "\n") > 0) {
				t.Errorf("bad input needs a one-line error, got %q", errOut)
			}
		})
	}
}

func TestBadInputNamesThePlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd.csv")
	csv, _ := os.ReadFile(exampleReport)
	odd := strings.Replace(string(csv), "2022-09-05T16:20:31+00:00", "5 Sep 2022", 1)
	if err := os.WriteFile(path, []byte(odd), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "audit", "--report", path)
	if code != ExitBadInput || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := path + `:5: column access_key_1_last_rotated: "5 Sep 2022" is not an ISO 8601 time`
	if !strings.Contains(errOut, want) {
		t.Errorf("stderr %q lacks %q", errOut, want)
	}
}

func TestReportFormatsListed(t *testing.T) {
	if len(report.Formats) < 4 || strings.Join(report.Formats[:4], ",") != "table,json,csv,sarif" {
		t.Errorf("formats %v", report.Formats)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (go test ./internal/cli -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
