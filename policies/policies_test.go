package policies_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/securityhub"
	"github.com/setupkeys/setupkeys/policies"
)

// Each shipped policy grants exactly the actions the code declares and checks (check-permissions
// probes these lists), no more, no less, so that the policies and the code cannot drift.
func TestPoliciesGrantWhatTheCodeNeeds(t *testing.T) {
	declared := map[string][]string{
		"audit":       remediate.AuditActions(),
		"remediate":   remediate.RemediationActions(),
		"org":         org.CallerActions,
		"securityhub": securityhub.Actions,
	}
	if names := policies.Names(); len(names) != len(declared) {
		t.Fatalf("policies %v, the test knows %d", names, len(declared))
	}
	for _, p := range policies.All {
		t.Run(p.Name, func(t *testing.T) {
			want, ok := declared[p.Name]
			if !ok {
				t.Fatalf("no declared actions for %q", p.Name)
			}
			doc, err := p.Document()
			if err != nil {
				t.Fatal(err)
			}
			if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
				t.Errorf("Version %q, %d statements", doc.Version, len(doc.Statement))
			}
			for _, s := range doc.Statement {
				if s.Effect != "Allow" || s.Sid == "" || s.Resource == nil || len(s.Action) == 0 {
					t.Errorf("statement %+v", s)
				}
				for _, a := range s.Action {
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %q", a)
					}
				}
			}
			got, err := p.Actions()
			if err != nil {
				t.Fatal(err)
			}
			w := slices.Clone(want)
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("%s grants %v\nthe code needs %v", p.File, got, w)
			}
			if !json.Valid(p.JSON()) || !bytes.HasSuffix(p.JSON(), []byte("}\n")) {
				t.Errorf("%s is not one JSON document ending in a newline", p.File)
			}
		})
	}
}

// The member role's ARN in the org policy is the default role's, so that the policy works as
// shipped with the default --role-name.
func TestOrgPolicyNamesTheDefaultRole(t *testing.T) {
	p, err := policies.Lookup("org")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.Document()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Statement {
		if slices.Contains(s.Action, "sts:AssumeRole") && s.Resource != "arn:aws:iam::*:role/"+org.DefaultRoleName {
			t.Errorf("sts:AssumeRole on %v, want the default role %s", s.Resource, org.DefaultRoleName)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tt := range []struct {
		name, wantFile, wantErr string
	}{
		{"audit", "audit-policy.json", ""},
		{"remediate", "remediation-policy.json", ""},
		{"org", "org-policy.json", ""},
		{"securityhub", "securityhub-policy.json", ""},
		{"Audit", "", `no policy "Audit": choose one of audit, remediate, org, securityhub`},
		{"", "", `no policy ""`},
	} {
		p, err := policies.Lookup(tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Lookup(%q) = %v, %v; want error %q", tt.name, p, err, tt.wantErr)
			}
			continue
		}
		if err != nil || p.File != tt.wantFile {
			t.Errorf("Lookup(%q) = %v, %v; want %s", tt.name, p, err, tt.wantFile)
		}
	}
	if h := policies.Hint("audit"); h != "the audit policy: `setupkeys check-permissions --print-policy audit` prints it" {
		t.Errorf("Hint = %q", h)
	}
}

func TestGranting(t *testing.T) {
	for action, want := range map[string]string{
		"iam:GenerateCredentialReport":    "audit",
		"iam:generatecredentialreport":    "audit",
		"cloudtrail:LookupEvents":         "audit",
		"iam:DeleteAccessKey":             "remediate",
		"organizations:ListAccounts":      "org",
		"sts:AssumeRole":                  "org",
		"securityhub:BatchImportFindings": "securityhub",
		"iam:CreateUser":                  "",
	} {
		p, ok := policies.Granting(action)
		if p.Name != want || ok != (want != "") {
			t.Errorf("Granting(%s) = %q, %v; want %q", action, p.Name, ok, want)
		}
	}
}
