package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/remediate"
)

func TestApplyFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o *ApplyOptions)
	}{
		{"defaults", []string{"plan.json"}, "", func(t *testing.T, o *ApplyOptions) {
			if o.PlanPath != "plan.json" || o.Action != remediate.ActionDeactivate || o.JournalPath != "plan.json.journal.jsonl" || o.Yes {
				t.Errorf("defaults: %+v", o)
			}
			if o.Role.org.RoleName != "OrganizationAccountAccessRole" || o.Role.org.RoleARNTemplate != "" || o.Role.org.ExternalID != "" {
				t.Errorf("role defaults: %+v", o.Role.org)
			}
		}},
		{"everything", []string{"p.json", "--action", "delete", "--journal", "j.jsonl", "--yes", "--profile", "prod", "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:1",
			"--role-arn-template", "arn:aws:iam::{account}:role/ops/Remediate", "--external-id", "ext"}, "", func(t *testing.T, o *ApplyOptions) {
			if o.Action != remediate.ActionDelete || o.JournalPath != "j.jsonl" || !o.Yes || o.AWS.Profile != "prod" || o.AWS.Region != "eu-west-1" || o.AWS.EndpointURL != "http://127.0.0.1:1" {
				t.Errorf("parsed: %+v", o)
			}
			if o.Role.org.RoleARNTemplate != "arn:aws:iam::{account}:role/ops/Remediate" || o.Role.org.ExternalID != "ext" {
				t.Errorf("role: %+v", o.Role.org)
			}
		}},
		{"short yes, role name", []string{"p.json", "-y", "--role-name", "Remediate"}, "", func(t *testing.T, o *ApplyOptions) {
			if !o.Yes || o.Role.org.RoleName != "Remediate" {
				t.Errorf("parsed: %+v", o)
			}
		}},
		{"no plan", nil, "accepts 1 arg", nil},
		{"two plans", []string{"a.json", "b.json"}, "accepts 1 arg", nil},
		{"stdin plan", []string{"-"}, "from a file, not stdin", nil},
		{"bad action", []string{"p.json", "--action", "reactivate"}, `unknown action "reactivate"`, nil},
		{"bad template", []string{"p.json", "--role-arn-template", "arn:aws:iam::1:role/x"}, "{account}", nil},
		{"bad role name", []string{"p.json", "--role-name", "a b"}, "not an IAM role name", nil},
		{"org selection is the plan's", []string{"p.json", "--org"}, "unknown flag: --org", nil},
		{"accounts are the plan's", []string{"p.json", "--accounts", "123456789012"}, "unknown flag: --accounts", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *ApplyOptions
			cmd := NewCmdApply(testFactory(), func(_ context.Context, o *ApplyOptions) error { got = o; return nil })
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

func TestRollbackFlags(t *testing.T) {
	var got *RollbackOptions
	cmd := NewCmdRollback(testFactory(), func(_ context.Context, o *RollbackOptions) error { got = o; return nil })
	if code, msg := parseFlags(t, cmd, "j.jsonl", "--yes", "--profile", "p", "--role-name", "R", "--external-id", "e"); code != ExitOK || got == nil {
		t.Fatalf("exit %d %q", code, msg)
	}
	if got.JournalPath != "j.jsonl" || !got.Yes || got.AWS.Profile != "p" || got.Role.org.RoleName != "R" || got.Role.org.ExternalID != "e" || got.IncludeRecovered {
		t.Errorf("parsed %+v", got)
	}
	got = nil
	cmd = NewCmdRollback(testFactory(), func(_ context.Context, o *RollbackOptions) error { got = o; return nil })
	if code, msg := parseFlags(t, cmd, "j.jsonl", "--include-recovered", "--plan-id", "plan-0a588d54e8bb61ad"); code != ExitOK || got == nil || !got.IncludeRecovered || got.Yes || got.PlanID != "plan-0a588d54e8bb61ad" {
		t.Fatalf("--include-recovered --plan-id: exit %d %q %+v", code, msg, got)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "accepts 1 arg"},
		{[]string{"j.jsonl", "--action", "delete"}, "unknown flag: --action"},
		{[]string{"j.jsonl", "--role-arn-template", "x"}, "{account}"},
		{[]string{"j.jsonl", "--plan-id", "0a588d54e8bb61ad"}, "is not a plan ID"},
	} {
		got = nil
		cmd := NewCmdRollback(testFactory(), func(_ context.Context, o *RollbackOptions) error { got = o; return nil })
		if code, msg := parseFlags(t, cmd, tt.args...); code != ExitBadInput || !strings.Contains(msg, tt.want) || got != nil {
			t.Errorf("%v: exit %d %q, want 2 with %q", tt.args, code, msg, tt.want)
		}
	}
}

func TestCheckPermissionsFlags(t *testing.T) {
	var got *CheckPermissionsOptions
	cmd := NewCmdCheckPermissions(testFactory(), func(_ context.Context, o *CheckPermissionsOptions) error { got = o; return nil })
	if code, msg := parseFlags(t, cmd, "--remediation", "--profile", "p", "--endpoint-url", "http://x"); code != ExitOK || got == nil {
		t.Fatalf("exit %d %q", code, msg)
	}
	if !got.Remediation || got.AWS.Profile != "p" || got.AWS.EndpointURL != "http://x" {
		t.Errorf("parsed %+v", got)
	}
	got = nil
	cmd = NewCmdCheckPermissions(testFactory(), func(_ context.Context, o *CheckPermissionsOptions) error { got = o; return nil })
	if code, _ := parseFlags(t, cmd); code != ExitOK || got == nil || got.Remediation {
		t.Errorf("defaults: exit %d %+v", code, got)
	}
	cmd = NewCmdCheckPermissions(testFactory(), nil)
	if code, msg := parseFlags(t, cmd, "extra"); code != ExitBadInput || !strings.Contains(msg, "accepts 0 arg") {
		t.Errorf("stray argument: exit %d %q", code, msg)
	}
}

// Every refusal remediate names is exit 2 by its type alone; anything else stays 1.
func TestRemediateErrorExitCodes(t *testing.T) {
	for _, e := range []error{remediate.ErrBadPlan, remediate.ErrUnresolved, remediate.ErrWrongAccount, remediate.ErrNotInteractive, remediate.ErrNotConfirmed, remediate.ErrJournalBusy, remediate.ErrBadJournal} {
		if code, _ := ExitCode(fmt.Errorf("detail: %w", e)); code != ExitBadInput {
			t.Errorf("%v: exit %d, want 2", e, code)
		}
	}
	if code, _ := ExitCode(errors.New("AccessDenied")); code != ExitError {
		t.Errorf("other error: exit %d, want 1", code)
	}
	if code, _ := ExitCode(fmt.Errorf("%w: %w", remediate.ErrJournalUnusable, &os.PathError{Op: "open", Path: "/nope/j", Err: os.ErrNotExist})); code != ExitBadInput {
		t.Errorf("journal path: exit %d, want 2", code)
	}
	// A message that merely starts like a journal error is not one.
	if code, _ := ExitCode(fmt.Errorf("journal: %w", &os.PathError{Op: "open", Path: "/nope/j", Err: os.ErrNotExist})); code != ExitError {
		t.Errorf("untyped journal-looking error: exit %d, want 1", code)
	}
}

// Apply and rollback refuse bad files before any AWS call.
func TestApplyAndRollbackBadFiles(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.json"
	os.WriteFile(bad, []byte(`{"format_version": 1, "surprise": true}`+"\n"), 0o600)
	syntax := dir + "/syntax.json"
	os.WriteFile(syntax, []byte("{\n  \"format_version\": 1,,\n}\n"), 0o600)
	torn := dir + "/torn.jsonl"
	os.WriteFile(torn, []byte(`{"seq":1,"prev":"","time":"2025`), 0o600) // a first write torn by a crash
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", dir + "/missing.json", "--yes"}, "no such file"},
		{[]string{"apply", bad, "--yes"}, "bad plan"},
		{[]string{"apply", syntax, "--yes"}, "bad plan: " + syntax + ":2:23: invalid JSON"},
		{[]string{"rollback", dir + "/missing.jsonl", "--yes"}, "no such file"},
		{[]string{"rollback", bad, "--yes"}, "bad journal"},
		{[]string{"rollback", torn, "--yes"}, "the journal is empty"},
	} {
		code, _, errOut := runCLI(t, "", tt.args...)
		if code != ExitBadInput || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d %q, want 2 with %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestCommonNote(t *testing.T) {
	const note = `simulation unavailable ("arn:aws:iam::123456789012:root" cannot be simulated)`
	perms := []remediate.Permission{
		{Action: "sts:GetCallerIdentity", Decision: remediate.DecisionAllowed, Method: remediate.MethodNone, Detail: "needs no permission"},
		{Action: "iam:ListUsers", Decision: remediate.DecisionAllowed, Method: remediate.MethodDryCall, Detail: "dry call succeeded; " + note},
		{Action: "iam:DeleteAccessKey", Decision: remediate.DecisionDenied, Method: remediate.MethodDryCall, Detail: "dry call: AccessDenied; " + note},
	}
	got, n := commonNote(perms)
	if n != `"arn:aws:iam::123456789012:root" cannot be simulated` || got[1].Detail != "dry call succeeded" || got[2].Detail != "dry call: AccessDenied" || got[0].Detail != "needs no permission" {
		t.Errorf("note %q, rows %+v", n, got)
	}
	if perms[1].Detail == got[1].Detail {
		t.Error("commonNote changed its input")
	}
	perms[2].Detail = "dry call: AccessDenied; simulation unavailable (other)"
	if got, n := commonNote(perms); n != "" || got[1].Detail != perms[1].Detail {
		t.Errorf("different notes should stay on their rows: %q %+v", n, got)
	}
}
