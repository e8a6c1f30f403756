package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// parseFlags runs cmd with args and a runF that only records the options, the way the root
// command runs it (flag errors are exit 2). It returns the error's exit code and message.
func parseFlags(t *testing.T, cmd *cobra.Command, args ...string) (int, string) {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return BadInput(err) })
	return ExitCode(cmd.Execute())
}

func testFactory() *Factory {
	return &Factory{IO: IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Now: time.Now}
}

func TestPlanFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o *PlanOptions)
	}{
		{"defaults", []string{"-o", "plan.json"}, "", func(t *testing.T, o *PlanOptions) {
			if o.Output != "plan.json" || o.IncludeReview || o.Resolve || o.Source.Window != 10*time.Minute || o.Source.Exact || o.Source.ReportPath != "" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{"everything", []string{"--output", "-", "--include-review", "--exact", "--window", "90s", "--suppressions", "s.yaml", "--profile", "p", "--endpoint-url", "http://127.0.0.1:1"}, "", func(t *testing.T, o *PlanOptions) {
			s := o.Source
			if o.Output != "-" || !o.IncludeReview || !s.Exact || s.Window != 90*time.Second || s.Suppressions != "s.yaml" || s.AWS.Profile != "p" || s.AWS.EndpointURL != "http://127.0.0.1:1" {
				t.Errorf("parsed: %+v", o)
			}
		}},
		{"report with resolve takes AWS flags", []string{"-o", "p.json", "--report", "r.csv", "--resolve", "--profile", "prod"}, "", func(t *testing.T, o *PlanOptions) {
			if !o.Resolve || o.Source.ReportPath != "r.csv" || o.Source.AWS.Profile != "prod" {
				t.Errorf("parsed: %+v", o)
			}
		}},
		{"org", []string{"-o", "p.json", "--org", "--role-name", "Audit", "--external-id", "x"}, "", func(t *testing.T, o *PlanOptions) {
			if !o.Source.Org.Org || o.Source.Org.RoleName != "Audit" || o.Source.Org.ExternalID != "x" {
				t.Errorf("parsed: %+v", o.Source.Org)
			}
		}},
		{"no output", []string{"--exact"}, "-o/--output is required", nil},
		{"resolve without report", []string{"-o", "p.json", "--resolve"}, "--resolve resolves the keys of a --report plan", nil},
		{"report without resolve refuses AWS flags", []string{"-o", "p.json", "--report", "r.csv", "--profile", "x"}, "do not apply", nil},
		{"report and exact", []string{"-o", "p.json", "--report", "r", "--exact"}, "exclude each other", nil},
		{"bad window", []string{"-o", "p.json", "--window", "0s"}, "--window must be positive", nil},
		{"org and report", []string{"-o", "p.json", "--org", "--report", "r.csv"}, "need a live audit", nil},
		{"stray argument", []string{"-o", "p.json", "extra"}, "accepts 0 arg", nil},
		{"unknown flag", []string{"-o", "p.json", "--yes"}, "unknown flag", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *PlanOptions
			cmd := NewCmdPlan(testFactory(), func(_ context.Context, o *PlanOptions) error { got = o; return nil })
			code, msg := parseFlags(t, cmd, tt.args...)
			if tt.wantErr != "" {
				if code != ExitBadInput || !strings.Contains(msg, tt.wantErr) || got != nil {
					t.Fatalf("got exit %d %q, want exit 2 with %q and no run", code, msg, tt.wantErr)
				}
				return
			}
			if code != ExitOK || got == nil {
				t.Fatalf("exit %d %q", code, msg)
			}
			tt.check(t, got)
		})
	}
}

// A plan from the bundled report: every fail planned without key IDs, the review finding listed,
// written to a file or stdout, exit 0; apply refuses it unresolved.
func TestPlanFromReportFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	code, out, errOut := runCLI(t, "", "plan", "--report", exampleReport, "-o", path)
	if code != ExitOK || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	for _, s := range []string{"Will deactivate 4 access keys", "4 of them have no access key ID yet", "Listed, not planned (1)", "--resolve"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	p, err := remediate.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.AccountID != "123456789012" || p.Resolved || len(p.Actions) != 4 || len(p.Listed) != 1 || p.Source.Kind != "report-file" || !p.CreatedAt.Equal(fixedNow) || p.MultiAccount() {
		t.Errorf("plan %+v", p)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %v", fi.Mode())
	}

	code, out, _ = runCLI(t, "", "plan", "--report", exampleReport, "-o", "-", "--include-review")
	var fromStdout remediate.Plan
	if code != ExitOK || json.Unmarshal([]byte(out), &fromStdout) != nil || len(fromStdout.Actions) != 5 || len(fromStdout.Listed) != 0 {
		t.Errorf("stdout plan with review: exit %d\n%s", code, out)
	}

	// Suppressed findings are listed, never planned.
	supp := filepath.Join(dir, "s.yaml")
	os.WriteFile(supp, []byte("suppressions:\n  - user: alice.martin\n    reason: vendor key, due to rotate\n"), 0o600)
	code, out, errOut = runCLI(t, "", "plan", "--report", exampleReport, "--suppressions", supp, "-o", "-")
	var suppressed remediate.Plan
	if code != ExitOK || json.Unmarshal([]byte(out), &suppressed) != nil {
		t.Fatalf("exit %d %s", code, errOut)
	}
	for _, a := range suppressed.Actions {
		if a.User == "alice.martin" {
			t.Error("a suppressed finding was planned")
		}
	}
	if len(suppressed.Actions) != 3 || !strings.Contains(errOut, "suppressed: vendor key, due to rotate") {
		t.Errorf("suppressed plan: %d actions\n%s", len(suppressed.Actions), errOut)
	}

	code, _, errOut = runCLI(t, "", "apply", path, "--yes")
	if code != ExitBadInput || !strings.Contains(errOut, "plan --report REPORT --resolve") {
		t.Errorf("apply of an unresolved plan: exit %d %s", code, errOut)
	}

	code, _, errOut = runCLI(t, "", "plan", "--report", filepath.Join(dir, "missing.csv"), "-o", path)
	if code != ExitBadInput {
		t.Errorf("missing report: exit %d %s", code, errOut)
	}
}

// plan --report --resolve against the in-memory IAM: keys that cannot be resolved live (used
// since the report, inactive, deleted, user deleted) are listed with a warning each, as is a key
// the rule flags in a planned second that the report did not flag; the plan is resolved with the
// rest (exit 0) and apply deactivates exactly those.
func TestPlanResolvePartial(t *testing.T) {
	const acct = "111111111111"
	fake := memiam.New()
	fake.Now = func() time.Time { return fixedNow }
	fake.AddAccount(acct, "management")
	created := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	keyOf := func(u string) string { return "AKIA" + strings.ToUpper(u) + strings.Repeat("0", 16-len(u)) }
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		fake.AddUser(acct, memiam.User{Name: u, Created: created, Console: true, Keys: []memiam.Key{{ID: keyOf(u), Created: created.Add(2 * time.Second)}}})
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	self, err := fake.Reach(acct, acct)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := self.GetCredentialReport(context.Background(), &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(report, rep.Content, 0o600)

	// Between the report and the resolution: bob's key is used, carol's deactivated, dave's
	// deleted, erin deleted, and frank gets a second key made in the same second.
	used := fixedNow.Add(-time.Hour)
	fake.Update(acct, "bob", func(u *memiam.User) { u.Keys[0].LastUsed, u.Keys[0].LastUsedService = &used, "s3" })
	fake.Update(acct, "carol", func(u *memiam.User) { u.Keys[0].Status = "Inactive" })
	fake.Update(acct, "dave", func(u *memiam.User) { u.Keys = nil })
	fake.RemoveUser(acct, "erin")
	fake.Update(acct, "frank", func(u *memiam.User) {
		u.Keys = append(u.Keys, memiam.Key{ID: "AKIAFRANK00000000001", Created: created.Add(2 * time.Second)})
	})
	runCLI := func(t *testing.T, stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, memClients{fake, acct}, false, stdin, args...)
	}

	plan := filepath.Join(dir, "plan.json")
	code, _, errOut := runCLI(t, "", "plan", "--report", report, "--resolve", "-o", plan)
	if code != ExitOK {
		t.Fatalf("plan --resolve: exit %d\n%s", code, errOut)
	}
	for _, s := range []string{
		`warning: user "bob", slot 1: unresolved: key created 2026-01-05T09:00:02Z: the key has been used since the report (last used 2026-11-27T11:00:00Z); not planned`,
		`warning: user "carol", slot 1: unresolved: key created 2026-01-05T09:00:02Z: the key is Inactive now; not planned`,
		`warning: user "dave", slot 1: unresolved: key created 2026-01-05T09:00:02Z: no key of the user created in that second exists now`,
		`warning: user "erin", slot 1: unresolved: key created 2026-01-05T09:00:02Z: the user no longer exists; not planned`,
		`warning: user "frank", key AKIA************0001: not planned: created 2026-01-05T09:00:02Z like a planned key and fail now, but the report did not flag it`,
		"warning: 4 of 6 planned keys could not be resolved in account " + acct,
		"Will deactivate 2 access keys",
		"Listed, not planned (5)",
		"Wrote " + plan + ". Review it, then: setupkeys apply " + plan,
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	if strings.Contains(errOut, "cannot be applied until") {
		t.Errorf("a resolved plan should not ask to resolve again:\n%s", errOut)
	}
	p, err := remediate.LoadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Resolved || p.ResolvedAt == nil || len(p.Actions) != 2 || p.Actions[0].KeyID() != "AKIAALICE00000000000" || p.Actions[1].KeyID() != "AKIAFRANK00000000000" || len(p.Listed) != 5 {
		t.Fatalf("plan: resolved %v, actions %+v, listed %+v", p.Resolved, p.Actions, p.Listed)
	}
	code, out, errOut := runCLI(t, "", "apply", plan, "--yes")
	if code != ExitOK || !strings.Contains(out, "deactivate: 2 deactivated") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	want := map[string]string{"AKIAALICE00000000000": "Inactive", "AKIABOB0000000000000": "Active", "AKIACAROL00000000000": "Inactive", "AKIAFRANK00000000000": "Inactive", "AKIAFRANK00000000001": "Active",
		"AKIADAVE000000000000": "", "AKIAERIN000000000000": ""} // deleted
	if got := memStatuses(fake, acct, want); !maps.Equal(got, want) {
		t.Errorf("keys after apply\n got %v\nwant %v", got, want)
	}
}
