package report

import "github.com/setupkeys/setupkeys"

// What every format that names the control says about it, so SARIF, OCSF, JUnit and the others
// agree.

// ControlTitle names the check in one line.
const ControlTitle = "Access key created at a console user's setup and never used"

// ControlDescription explains the check, as DESIGN.md states the rule.
const ControlDescription = "An IAM user with a console password has an active access key created within the window " +
	"of the user's creation (default 10 minutes) that was never used. CIS AWS Foundations asks not to create access keys " +
	"during the initial setup of console users: such keys are rarely needed and easily forgotten. " +
	"A key with no last-used date created before 2015-04-22, when IAM began tracking key use, needs review: " +
	"IAM cannot prove it was never used."

// CISVersion is the number one version of the CIS AWS Foundations Benchmark gives the control.
type CISVersion struct {
	Version string // "v1.2.0"
	Control string // "1.21"
}

// CISVersions lists the control's number in every CIS AWS Foundations version that has it,
// oldest first (DESIGN.md; v4 retitled it "Do not create access keys during initial setup...").
// Formats that name each version (ASFF's RelatedRequirements) list these.
var CISVersions = []CISVersion{
	{"v1.1.0", "1.23"},
	{"v1.2.0", "1.21"},
	{"v1.3.0", "1.11"},
	{"v1.4.0", "1.11"},
	{"v1.5.0", "1.11"},
	{"v2.0.0", "1.11"},
	{"v3.0.0", "1.11"},
	{"v4.0.0", "1.11"},
	{"v4.0.1", "1.11"},
	{"v5.0.0", "1.10"},
	{"v6.0.0", "2.10"},
}

// CISReference is the number one or more versions of the CIS AWS Foundations Benchmark give the
// control.
type CISReference struct {
	Versions string `json:"versions"`
	Control  string `json:"control"`
}

// CISReferences are CISVersions with consecutive versions of one number grouped
// ("v1.3.0 to v4.0.1").
var CISReferences = groupCISVersions(CISVersions)

func groupCISVersions(versions []CISVersion) []CISReference {
	var refs []CISReference
	for i := 0; i < len(versions); {
		j := i
		for j+1 < len(versions) && versions[j+1].Control == versions[i].Control {
			j++
		}
		span := versions[i].Version
		if j > i {
			span += " to " + versions[j].Version
		}
		refs = append(refs, CISReference{Versions: span, Control: versions[i].Control})
		i = j + 1
	}
	return refs
}

// CISStandard is the benchmark's name, as the formats that name a standard give it.
const CISStandard = "CIS AWS Foundations Benchmark"

// Remediation is what to do about a finding, with the commands that do it.
const Remediation = "Deactivate the key with a reviewed plan; deactivation is reversible. " +
	"Make the plan: setupkeys plan -o plan.json (from a credential report file: setupkeys plan --report FILE --resolve -o plan.json). " +
	"Review it, then apply it: setupkeys apply plan.json. " +
	"To undo: setupkeys rollback plan.json.journal.jsonl. " +
	"If the key is needed, suppress the finding with a reason (--suppressions)."

// RemediationMarkdown is Remediation for formats that render Markdown.
const RemediationMarkdown = "Deactivate the key with a reviewed plan; deactivation is reversible.\n\n" +
	"```sh\n" +
	"setupkeys plan -o plan.json                   # or, from a report file: setupkeys plan --report FILE --resolve -o plan.json\n" +
	"setupkeys apply plan.json                     # shows the plan and asks for the account ID\n" +
	"setupkeys rollback plan.json.journal.jsonl    # undo\n" +
	"```\n\n" +
	"If the key is needed, suppress the finding with a reason (`--suppressions`)."

// Severity is how urgent a status is, in the scales the formats use.
type Severity struct {
	// Label is the word: "medium", "low".
	Label string
	// Score is GitHub's security-severity, 0.0 to 10.0 (4.0 to 6.9 is medium, 0.1 to 3.9 low).
	Score string
}

// SeverityOf gives the severity of a finding's status: an unused setup key is medium (an
// unneeded long-lived credential, not an exposed one); a key that may have been used before IAM
// tracked use is low until reviewed. Passing and suppressed keys have none.
func SeverityOf(status setupkeys.Status) (Severity, bool) {
	switch status {
	case setupkeys.StatusFail:
		return Severity{Label: "medium", Score: "5.5"}, true
	case setupkeys.StatusReview, setupkeys.StatusPending:
		return Severity{Label: "low", Score: "3.0"}, true
	}
	return Severity{}, false
}
