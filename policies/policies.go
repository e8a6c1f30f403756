// Package policies holds the least-privilege IAM policies setupkeys needs, embedded so that an
// installed binary can print them (`setupkeys check-permissions --print-policy NAME`) and its
// messages can name a policy by what it grants rather than by a path in a repository. The
// packages that make the calls declare the actions; a test holds each policy to them.
package policies

import (
	"embed"
	"fmt"
	"sort"
	"strings"

	"github.com/setupkeys/setupkeys/internal/strictjson"
)

//go:embed *.json
var files embed.FS

// Policy is one shipped policy.
type Policy struct {
	// Name is what --print-policy takes.
	Name string
	// File is its file in this directory.
	File string
	// For says who needs it, for people.
	For string
}

// All are the shipped policies, in the order they are listed.
var All = []Policy{
	{Name: "audit", File: "audit-policy.json", For: "audit, plan and check-permissions, in every audited account (for --org, in the member role too)"},
	{Name: "remediate", File: "remediation-policy.json", For: "apply and rollback, in every account they change (for --org, in the member role too)"},
	{Name: "org", File: "org-policy.json", For: "the caller of an --org, --ou or --accounts run: list the organization and assume the member role (edit the role ARN for --role-name or --role-arn-template)"},
	{Name: "securityhub", File: "securityhub-policy.json", For: "audit --security-hub, in every account it imports into (for --org, in the member role too)"},
}

// Names are the policies' names, as --print-policy takes them.
func Names() []string {
	out := make([]string, len(All))
	for i, p := range All {
		out[i] = p.Name
	}
	return out
}

// Lookup returns the policy called name.
func Lookup(name string) (Policy, error) {
	for _, p := range All {
		if p.Name == name {
			return p, nil
		}
	}
	return Policy{}, fmt.Errorf("no policy %q: choose one of %s", name, strings.Join(Names(), ", "))
}

// JSON is the policy document, as IAM takes it.
func (p Policy) JSON() []byte {
	data, err := files.ReadFile(p.File)
	if err != nil {
		panic("policies: " + p.File + " is not embedded: " + err.Error()) // a build defect, caught by the tests
	}
	return data
}

// Document is the part of an IAM policy document these policies use.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource any      `json:"Resource"`
}

// Document reads the policy strictly.
func (p Policy) Document() (Document, error) {
	var doc Document
	err := strictjson.Unmarshal(p.File, p.JSON(), &doc)
	return doc, err
}

// Actions are the actions the policy allows, sorted.
func (p Policy) Actions() ([]string, error) {
	doc, err := p.Document()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range doc.Statement {
		if s.Effect == "Allow" {
			out = append(out, s.Action...)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Hint names the policy called name for a message: what it is and how to print it.
func Hint(name string) string {
	return fmt.Sprintf("the %s policy: `setupkeys check-permissions --print-policy %s` prints it", name, name)
}

// Granting returns the first shipped policy that allows action ("iam:GetUser"), in the order of
// All.
func Granting(action string) (Policy, bool) {
	for _, p := range All {
		actions, err := p.Actions()
		if err != nil {
			continue
		}
		for _, a := range actions {
			if strings.EqualFold(a, action) {
				return p, true
			}
		}
	}
	return Policy{}, false
}
