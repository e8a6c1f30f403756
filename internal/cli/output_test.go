package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/report"
)

func TestOutputPairing(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	tests := []struct {
		name    string
		args    []string
		want    []Output
		wantErr string
	}{
		{"nothing: table on stdout", nil, []Output{{Format: "table"}}, ""},
		{"one format on stdout", []string{"--format", "csv"}, []Output{{Format: "csv"}}, ""},
		{"output alone: the default format", []string{"--output", a}, []Output{{Format: "table", Path: a}}, ""},
		{"one pair", []string{"--format", "json", "--output", a}, []Output{{Format: "json", Path: a}}, ""},
		{"one pair, output first", []string{"-o", a, "--format", "json"}, []Output{{Format: "json", Path: a}}, ""},
		{"dash is stdout", []string{"--format", "json", "-o", "-"}, []Output{{Format: "json"}}, ""},
		{"two pairs", []string{"--format", "json", "--output", a, "--format", "csv", "--output", b}, []Output{{"json", a}, {"csv", b}}, ""},
		{"two pairs and stdout", []string{"--format", "json", "--output", a, "--format", "table", "--format", "csv", "--output", b}, []Output{{"json", a}, {Format: "table"}, {"csv", b}}, ""},
		{"stdout last", []string{"--format", "json", "--output", a, "--format", "table"}, []Output{{"json", a}, {Format: "table"}}, ""},
		{"two on stdout", []string{"--format", "json", "--format", "csv"}, nil, "more than one --format writes to stdout"},
		{"output without its format", []string{"--format", "json", "--output", a, "--output", b}, nil, "--output " + b + " has no --format right before it"},
		{"output before the formats", []string{"--output", a, "--format", "json", "--format", "csv"}, nil, "--output " + a + " has no --format right before it"},
		{"same file twice", []string{"--format", "json", "--output", a, "--format", "csv", "--output", filepath.Join(dir, ".", "a")}, nil, "is given twice (for json and csv)"},
		{"unknown format in a pair", []string{"--format", "json", "--output", a, "--format", "xml", "--output", b}, nil, `--format "xml": want one of`},
		{"directory", []string{"--output", dir}, nil, "not a regular file (a directory)"},
		{"missing directory", []string{"--output", filepath.Join(dir, "no", "such")}, nil, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *AuditOptions
			f := &Factory{IO: IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Now: time.Now}
			cmd := NewCmdAudit(f, func(_ context.Context, o *AuditOptions) error { got = o; return nil })
			cmd.SetArgs(append([]string{"--report", "r.csv"}, tt.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				code, msg := ExitCode(err)
				if code != ExitBadInput || !strings.Contains(msg, tt.wantErr) {
					t.Fatalf("got exit %d %q, want exit 2 with %q", code, msg, tt.wantErr)
				}
				if got != nil {
					t.Error("the run started despite bad outputs")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Outputs, tt.want) {
				t.Errorf("outputs %+v, want %+v", got.Outputs, tt.want)
			}
		})
	}
}

// One audit, several renderers: each file holds what that format prints on stdout.
func TestAuditSeveralOutputs(t *testing.T) {
	dir := t.TempDir()
	jsonPath, csvPath := filepath.Join(dir, "audit.json"), filepath.Join(dir, "audit.csv")
	code, out, errOut := runCLI(t, "", "audit", "--report", exampleReport, "--all",
		"--format", "json", "--output", jsonPath, "--format", "table", "--format", "csv", "-o", csvPath)
	if code != ExitFailed {
		t.Fatalf("exit %d, want 3 (stderr %q)", code, errOut)
	}
	golden(t, filepath.Join("testdata", "example.table"), out)
	gotCSV, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "example.csv"), string(gotCSV))
	// Files get compact JSON (no person reads them at a terminal); the content is the golden's.
	gotJSON, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, err := os.ReadFile(filepath.Join("testdata", "example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, wantJSON); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(gotJSON)) != compact.String() {
		t.Errorf("%s:\n%s\nwant the golden's content:\n%s", jsonPath, gotJSON, compact.String())
	}
	assertOnlyFiles(t, dir, "audit.csv", "audit.json")
}

func TestOutputReplacesOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("not yours"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{link, fifo, "/dev/null"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			code, out, errOut := runCLI(t, "", "audit", "--report", exampleReport, "--format", "json", "--output", path)
			if code != ExitBadInput || out != "" || !strings.Contains(errOut, "not a regular file") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q: want exit 2 and a one-line refusal", code, out, errOut)
			}
		})
	}
	if got, _ := os.ReadFile(victim); string(got) != "not yours" {
		t.Errorf("the link's target changed: %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	assertOnlyFiles(t, dir, "fifo", "link", "victim")
}

func TestOutputReplacesARegularFileKeepingItsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.csv")
	if err := os.WriteFile(path, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "", "audit", "--report", exampleReport, "--format", "csv", "--output", path); code != ExitFailed {
		t.Fatalf("exit %d (stderr %q)", code, errOut)
	}
	got, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(got), "account_id,") {
		t.Fatalf("%q %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old file's 0640", fi.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "audit.csv")
}

// A renderer that fails leaves every destination as it was, including the files of the
// renderers that succeeded before it, and no temporary file behind.
func TestOutputFailureReplacesNothing(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second")
	if err := os.WriteFile(first, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	audit := setupkeys.Audit{Window: time.Minute}
	err := writeOutputs(IOStreams{Out: &stdout}, []Output{{"json", first}, {Format: "table"}, {"no-such-format", second}}, audit, report.Options{})
	if err == nil || !strings.Contains(err.Error(), "no-such-format") {
		t.Fatalf("error %v", err)
	}
	if got, _ := os.ReadFile(first); string(got) != "old" {
		t.Errorf("first output replaced although the run failed: %q", got)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout written although the files failed: %q", stdout.String())
	}
	assertOnlyFiles(t, dir, "first.json")
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s holds %v, want %v (a temporary file left behind?)", dir, names, want)
	}
}
