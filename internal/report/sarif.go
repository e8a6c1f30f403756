package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/plural"
)

// SARIFRuleID is the stable id of the one rule setupkeys reports. Never change it: GitHub code
// scanning tracks alerts by rule id and fingerprint.
const SARIFRuleID = "setupkeys/access-key-created-at-setup"

// SARIFFingerprintKey names the partial fingerprint holding the finding ID, which is stable per
// key across runs and sources; "/v1" versions its meaning, as SARIF's examples do.
const SARIFFingerprintKey = "setupkeysFindingId/v1"

// SARIFMaxResults is GitHub code scanning's limit of results in one run. Beyond it the run keeps
// fail before review findings and says in a notification how many it left out.
const SARIFMaxResults = 25000

// SARIF writes the audit as a SARIF 2.1.0 log for GitHub code scanning and other SARIF readers:
// one run, one rule, one result per fail or review finding. Passing and suppressed keys are
// left out, so an alert closes when its key is fixed or suppressed.
//
// Locations: a finding from a report file points at the file (its path as given to --report,
// relative to where setupkeys ran) and the user's line. A live finding has no file; its
// location is the user's ARN, both as the artifact URI (an ARN is an absolute URI) and as a
// logical location of kind "resource", which is also on every report-file result.
func SARIF(w io.Writer, a setupkeys.Audit, opts Options) error {
	return sarifWithLimit(w, a, opts, SARIFMaxResults)
}

func sarifWithLimit(w io.Writer, a setupkeys.Audit, opts Options, maxResults int) error {
	doc := NewDocument(a, opts.Now)
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	run := sarif.NewRunWithInformationURI("setupkeys", "")
	run.Tool.Driver.InformationURI = nil
	if opts.ToolVersion != "" {
		run.Tool.Driver.Version = &opts.ToolVersion
	}
	run.Tool.Driver.Rules = []*sarif.ReportingDescriptor{sarifRule()}
	run.AutomationDetails = &sarif.RunAutomationDetails{ID: ptr(sarifAutomationID(a))}

	findings, left := sarifFindings(doc.Findings, maxResults)
	run.Results = make([]*sarif.Result, 0, len(findings))
	for _, f := range findings {
		run.Results = append(run.Results, sarifResult(f))
	}

	invocation := &sarif.Invocation{ExecutionSuccessful: ptr(!a.Failed())}
	if !a.StartedAt.IsZero() {
		started := a.StartedAt.UTC()
		invocation.StartTimeUTC = &started
	}
	for _, acct := range a.Accounts {
		if acct.Err != nil {
			invocation.ToolExecutionNotifications = append(invocation.ToolExecutionNotifications,
				sarifNotification("error", "account "+acct.AccountID+" could not be audited: "+acct.Err.Error()))
		}
	}
	for _, warning := range doc.Warnings {
		invocation.ToolExecutionNotifications = append(invocation.ToolExecutionNotifications, sarifNotification("warning", warning))
	}
	for _, sk := range doc.SkippedAccounts {
		invocation.ToolExecutionNotifications = append(invocation.ToolExecutionNotifications,
			sarifNotification("note", "account "+accountLabel(sk.AccountID, sk.Name)+" skipped, not audited: "+SkipReasonText(sk.Reason)))
	}
	if left > 0 {
		invocation.ToolExecutionNotifications = append(invocation.ToolExecutionNotifications, sarifNotification("warning",
			fmt.Sprintf("%s left out: GitHub code scanning takes at most %d results a run (fail findings were kept first); --format json lists them all", plural.Count(left, "finding"), maxResults)))
	}
	run.Invocations = []*sarif.Invocation{invocation}
	log.AddRun(run)

	enc := json.NewEncoder(w)
	if opts.IndentJSON {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(log)
}

func sarifRule() *sarif.ReportingDescriptor {
	rule := sarif.NewRule(SARIFRuleID)
	rule.Name = ptr("AccessKeyCreatedAtSetup")
	rule.ShortDescription = &sarif.MultiformatMessageString{Text: ptr(ControlTitle)}
	rule.FullDescription = &sarif.MultiformatMessageString{Text: ptr(ControlDescription + " " + cisText())}
	rule.Help = &sarif.MultiformatMessageString{Text: ptr(Remediation), Markdown: ptr(RemediationMarkdown + "\n\n" + cisText())}
	// Fail results say level "error"; review results leave level out, as SARIF requires for a
	// kind other than "fail" (§3.27.10: it is then "none"), and GitHub shows them at this level.
	rule.DefaultConfiguration = &sarif.ReportingConfiguration{Level: "warning"}
	high, _ := SeverityOf(setupkeys.StatusFail)
	rule.Properties = sarif.Properties{
		"tags":                []string{"security", "aws", "iam", "cis-aws-foundations"},
		"precision":           "very-high",
		"security-severity":   high.Score,
		"cis-aws-foundations": CISReferences,
	}
	return rule
}

func cisText() string {
	parts := make([]string, len(CISReferences))
	for i, r := range CISReferences {
		parts[i] = r.Versions + ": " + r.Control
	}
	return CISStandard + " control " + strings.Join(parts, "; ") + "."
}

// sarifFindings picks the results: fail and review findings, in the document's order, at most
// maxResults of them with fail findings kept first. left is how many were dropped.
func sarifFindings(all []setupkeys.Finding, maxResults int) (kept []setupkeys.Finding, left int) {
	fails := 0
	for _, f := range all {
		switch f.Status {
		case setupkeys.StatusFail:
			fails++
			kept = append(kept, f)
		case setupkeys.StatusReview, setupkeys.StatusPending:
			kept = append(kept, f)
		}
	}
	if len(kept) <= maxResults {
		return kept, 0
	}
	left = len(kept) - maxResults
	reviews := max(0, maxResults-fails)
	out := kept[:0]
	fails = min(fails, maxResults)
	for _, f := range kept {
		if f.Status == setupkeys.StatusFail && fails > 0 {
			out = append(out, f)
			fails--
		} else if f.Status != setupkeys.StatusFail && reviews > 0 {
			out = append(out, f)
			reviews--
		}
	}
	return out, left
}

func sarifResult(f setupkeys.Finding) *sarif.Result {
	r := sarif.NewRuleResult(SARIFRuleID)
	r.RuleIndex = ptr(uint(0))
	r.Kind = ptr(string(f.Status)) // "fail" or "review", both SARIF kinds
	if f.Status == setupkeys.StatusPending {
		r.Kind = ptr("review") // pending is not a SARIF kind; it needs a person (or --live) too
	}
	if f.Status == setupkeys.StatusFail {
		r.Level = ptr("error")
	}
	r.Message = sarif.Message{Text: ptr(sarifMessage(f))}
	r.PartialFingerprints = map[string]any{SARIFFingerprintKey: f.ID}
	user := &sarif.LogicalLocation{Name: ptr(f.User), FullyQualifiedName: ptr(f.ARN), Kind: ptr("resource")}
	loc := &sarif.Location{LogicalLocations: []*sarif.LogicalLocation{user}}
	if file := reportFile(f); file != "" {
		loc.PhysicalLocation = &sarif.PhysicalLocation{ArtifactLocation: &sarif.ArtifactLocation{URI: ptr(file)}}
		if f.ReportLine > 0 {
			loc.PhysicalLocation.Region = &sarif.Region{StartLine: ptr(f.ReportLine)}
		}
	} else {
		loc.PhysicalLocation = &sarif.PhysicalLocation{ArtifactLocation: &sarif.ArtifactLocation{URI: ptr(uriEscape(f.ARN))}}
	}
	r.Locations = []*sarif.Location{loc}
	sev, _ := SeverityOf(f.Status)
	r.Properties = sarif.Properties{"security-severity": sev.Score, "finding": f}
	return r
}

// reportFile is the URI of the report file a finding came from, "" when there is none (a live
// source, or a report read from stdin).
func reportFile(f setupkeys.Finding) string {
	if f.Source.Kind != setupkeys.SourceReportFile || f.Source.File == "" || f.Source.File == "stdin" || f.Source.File == "-" {
		return ""
	}
	p := filepath.ToSlash(f.Source.File)
	if filepath.IsAbs(f.Source.File) {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

// uriEscape percent-encodes what may not stand in a URI as is, so an ARN (letters, digits and
// +=,.@_-/: in IAM) is its own URI and anything else in one cannot break the URI's syntax.
func uriEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:/@!$&'()*+,;=", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func sarifMessage(f setupkeys.Finding) string {
	return sarifEscape(findingSentence(f))
}

// findingSentence says what a finding is about in one sentence: status, key, user, account,
// reason.
func findingSentence(f setupkeys.Finding) string {
	key := fmt.Sprintf("in slot %d", f.KeySlot)
	if f.AccessKeyID != nil {
		key = fmt.Sprintf("%s (slot %d)", *f.AccessKeyID, f.KeySlot)
	}
	return fmt.Sprintf("%s: access key %s of IAM user %s in account %s: %s.", strings.ToUpper(string(f.Status)), key, f.User, f.AccountID, f.Reason)
}

// sarifEscape keeps data from reading as a SARIF embedded link ([text](target), §3.11.6).
func sarifEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(s)
}

func sarifNotification(level, text string) *sarif.Notification {
	return &sarif.Notification{Level: level, Message: &sarif.Message{Text: ptr(sarifEscape(text))}}
}

// sarifAutomationID is runAutomationDetails.id: "setupkeys/<scope>/<start time>". GitHub reads
// what comes before the last slash as the analysis category, so each account (or organization
// run) keeps its own alerts, and the start time tells runs apart.
func sarifAutomationID(a setupkeys.Audit) string {
	scope := "organization"
	if len(a.Accounts) == 1 {
		scope = a.Accounts[0].AccountID
	}
	if scope == "" {
		scope = "unknown-account"
	}
	return "setupkeys/" + scope + "/" + a.StartedAt.UTC().Format(time.RFC3339)
}

func ptr[T any](v T) *T { return &v }
