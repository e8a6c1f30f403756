package binarytest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/report"
)

// A word that is not a command is bad usage, exit 2, with a suggestion when one is near.
func TestUnknownCommandsExit2(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"audti"}, "did you mean audit?"},
		{[]string{"version"}, "did you mean --version?"},
		{[]string{"frobnicate", "x"}, `unknown command "frobnicate"`},
		{[]string{"audit", "--no-such-flag"}, "unknown flag: --no-such-flag"},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			r := run(t, cleanEnv(t), "", tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want one line on stderr, got %q", r.stderr)
			}
		})
	}
}

// Every command's help has a description, examples and its exit codes.
func TestHelpHasExamplesAndExitCodes(t *testing.T) {
	for _, cmd := range []string{"audit", "plan", "apply", "rollback", "check-permissions"} {
		t.Run(cmd, func(t *testing.T) {
			r := run(t, cleanEnv(t), "", cmd, "--help")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range []string{"Usage:", "Examples:", "Exit codes:\n  0  ", "\n  2  "} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help lacks %q:\n%s", want, r.stdout)
				}
			}
			if lines := strings.Count(r.stdout[:strings.Index(r.stdout, "Usage:")], "\n"); lines < 4 {
				t.Errorf("the description before Usage is %d lines; want a real explanation:\n%s", lines, r.stdout)
			}
		})
	}
	r := run(t, cleanEnv(t), "", "--help")
	if !strings.Contains(r.stdout, "Exit codes:\n  0  ") || !strings.Contains(r.stdout, "  3  ") {
		t.Errorf("root help lacks the exit codes:\n%s", r.stdout)
	}
}

// Shell completion offers --format's values and the profiles of the AWS config and credentials
// files.
func TestCompletion(t *testing.T) {
	env := cleanEnv(t)
	dir := t.TempDir()
	cfgFile, credsFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	writeFile(t, cfgFile, "[default]\nregion = eu-west-1\n[profile prod]\nregion = us-east-1\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n[profile  dev ]\n")
	writeFile(t, credsFile, "[ci]\naws_access_key_id = x\n[prod]\n")
	env = append(env, "AWS_CONFIG_FILE="+cfgFile, "AWS_SHARED_CREDENTIALS_FILE="+credsFile)

	r := run(t, env, "", "__complete", "audit", "--format", "")
	if got := completions(r.stdout); strings.Join(got, ",") != strings.Join(report.Formats, ",") {
		t.Errorf("--format completes to %v, want %v", got, report.Formats)
	}
	for _, cmd := range []string{"audit", "plan", "apply", "check-permissions"} {
		r = run(t, env, "", "__complete", cmd, "--profile", "")
		if got := strings.Join(completions(r.stdout), ","); got != "ci,default,dev,prod" {
			t.Errorf("%s --profile completes to %q, want ci,default,dev,prod (not the sso-session)", cmd, got)
		}
	}
	// With no AWS files, no profiles and no error.
	r = run(t, cleanEnv(t), "", "__complete", "audit", "--profile", "")
	if got := completions(r.stdout); len(got) != 0 || r.code != 0 {
		t.Errorf("no config: completions %v, exit %d", got, r.code)
	}
}

// completions reads cobra's __complete output: one value a line, then ":directive".
func completions(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		got = append(got, l)
	}
	return got
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --version says which build this is from the binary's own build record: the commit it was
// built from, and whether the tree had changes. The test builds a copy of the module in a git
// repository of its own, so it knows the commit to expect.
func TestVersionFromBuildInfo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to build with VCS information")
	}
	src := t.TempDir()
	files, err := exec.Command("git", "-C", moduleRoot, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		data, err := os.ReadFile(filepath.Join(moduleRoot, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(src, f), string(data))
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = src
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "snapshot")
	commit := git("rev-parse", "HEAD")

	build := func() string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "setupkeys")
		cmd := exec.Command("go", "build", "-buildvcs=true", "-trimpath", "-o", out, "./cmd/setupkeys")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		v, err := exec.Command(out, "--version").Output()
		if err != nil {
			t.Fatalf("--version: %v", err)
		}
		return strings.TrimSpace(string(v))
	}
	clean := build()
	if strings.Count(clean, commit[:12]) != 1 || strings.Contains(clean, "dirty") || strings.Contains(clean, "uncommitted") {
		t.Errorf("clean build: %q; want the commit %s once and no changes", clean, commit[:12])
	}
	writeFile(t, filepath.Join(src, "extra.go"), "package setupkeys\n")
	if dirty := build(); strings.Count(dirty, commit[:12]) != 1 || !(strings.Contains(dirty, "+dirty") || strings.Contains(dirty, "uncommitted changes")) {
		t.Errorf("dirty build: %q; want the commit once and the uncommitted changes", dirty)
	}
}

// No credentials at all: one line naming the fix, no SDK log, exit 1; with --format json the
// document still comes, carrying the error.
func TestMissingCredentials(t *testing.T) {
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			r := run(t, cleanEnv(t), "", "audit", "--format", format)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			want := "setupkeys: no AWS credentials found: run `aws configure`, or choose a profile with --profile (or AWS_PROFILE)\n"
			if r.stderr != want {
				t.Errorf("stderr %q\nwant   %q", r.stderr, want)
			}
			if format == "table" {
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				return
			}
			var doc report.Document
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("stdout is not a JSON document: %v\n%s", err, r.stdout)
			}
			if !strings.Contains(doc.Error, "no AWS credentials found") || doc.SchemaVersion != report.SchemaVersion || doc.Source.Kind != "live-report" {
				t.Errorf("document %+v", doc)
			}
		})
	}
	// --debug shows the SDK's own account of it.
	r := run(t, cleanEnv(t), "", "audit", "--debug")
	if r.code != 1 || !strings.Contains(r.stderr, "cause: ") || !strings.Contains(r.stderr, "aws configure") {
		t.Errorf("--debug: exit %d, stderr %q", r.code, r.stderr)
	}
}

// An SSO profile whose session is not logged in (or expired): the fix is `aws sso login`, and
// the token cache's path is not the message.
func TestSSOSessionExpired(t *testing.T) {
	env := cleanEnv(t)
	cfg := filepath.Join(t.TempDir(), "config")
	writeFile(t, cfg, `[profile corp]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Audit
region = us-east-1
[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
`)
	env = append(env, "AWS_CONFIG_FILE="+cfg)
	r := run(t, env, "", "audit", "--profile", "corp")
	want := "setupkeys: the AWS SSO session of profile corp has expired or was never started: run `aws sso login --profile corp`\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q\nwant %q", r.code, r.stderr, want)
	}
	if strings.Contains(r.stderr, "cache") {
		t.Errorf("stderr shows the token cache: %q", r.stderr)
	}
	// A profile that does not exist is bad usage.
	r = run(t, env, "", "audit", "--profile", "nope")
	if r.code != 2 || !strings.Contains(r.stderr, `AWS profile "nope" not found`) {
		t.Errorf("unknown profile: exit %d, stderr %q", r.code, r.stderr)
	}
}
