package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys"
)

// JUnit XML as GitLab and Jenkins read it: <testsuites> of one <testsuite> per account, one
// <testcase> per judged key (classname the account, name the user and key), <failure> for fail
// (and review under --strict), <skipped> for suppressed, and an <error> case for an account that
// could not be audited, a <skipped> case for an account the selection skipped (suspended,
// excluded). Passing keys are cases only with --all: without it the audit counts them
// and keeps no finding to name.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit writes the audit as JUnit XML. encoding/xml escapes every value, and replaces the
// characters XML 1.0 cannot hold (most control characters) with U+FFFD.
func JUnit(w io.Writer, a setupkeys.Audit, opts Options) error {
	doc := NewDocument(a, opts.Now)
	out := junitSuites{Name: "setupkeys audit", Time: "0"}
	for _, acct := range a.Accounts {
		suite := junitSuite{Name: "setupkeys " + accountTitle(acct.AccountID, acct.AccountName), Time: "0"}
		if !a.StartedAt.IsZero() {
			suite.Timestamp = a.StartedAt.UTC().Format("2006-01-02T15:04:05")
		}
		suite.Properties = []junitProperty{{"source", describeSource(acct.Source, opts.Now)}, {"window", a.Window.String()}}
		if acct.Err != nil {
			suite.Cases = append(suite.Cases, junitCase{Classname: acct.AccountID, Name: "audit the account", Time: "0",
				Error: &junitProblem{Message: "could not be audited: " + acct.Err.Error(), Type: "error", Body: acct.Err.Error()}})
		}
		for _, f := range doc.Findings {
			if f.AccountID == acct.AccountID {
				suite.Cases = append(suite.Cases, junitCaseOf(f, opts.Strict))
			}
		}
		out.add(suite)
	}
	// An account the selection skipped (suspended, excluded) is a suite of one skipped case, so
	// that CI shows what was not audited.
	for _, s := range a.Skipped {
		out.add(junitSuite{Name: "setupkeys " + accountTitle(s.AccountID, s.Name), Time: "0",
			Cases: []junitCase{{Classname: s.AccountID, Name: "audit the account", Time: "0", Skipped: &junitSkipped{Message: "skipped, not audited: " + SkipReasonText(s.Reason)}}}})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// add counts suite's cases into it and into the totals, and appends it.
func (out *junitSuites) add(suite junitSuite) {
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	out.Tests += suite.Tests
	out.Failures += suite.Failures
	out.Errors += suite.Errors
	out.Skipped += suite.Skipped
	out.Suites = append(out.Suites, suite)
}

func junitCaseOf(f setupkeys.Finding, strict bool) junitCase {
	name := fmt.Sprintf("%s / access key %d", f.User, f.KeySlot)
	if f.AccessKeyID != nil {
		name += " (" + *f.AccessKeyID + ")"
	}
	c := junitCase{Classname: f.AccountID, Name: name, Time: "0", SystemOut: junitEvidence(f)}
	switch {
	case f.Status == setupkeys.StatusFail, f.Status == setupkeys.StatusReview && strict:
		c.Failure = &junitProblem{Message: findingSentence(f), Type: string(f.Status), Body: Remediation}
	case f.Status == setupkeys.StatusSuppressed:
		c.Skipped = &junitSkipped{Message: reasonCell(f)}
	}
	return c
}

// junitEvidence is the finding's evidence, one fact a line, for the case's output.
func junitEvidence(f setupkeys.Finding) string {
	lines := []string{
		"status: " + string(f.Status),
		"finding id: " + f.ID,
		"user: " + f.User,
		"arn: " + f.ARN,
		"user created: " + f.UserCreated.UTC().Format(time.RFC3339),
		"key created: " + f.KeyCreated.UTC().Format(time.RFC3339),
		"gap (key created - user created): " + gapCell(f.GapSeconds),
		"last used: " + lastUsedCell(f),
		"reason: " + reasonCell(f),
	}
	if f.ReportLine > 0 {
		lines = append(lines, fmt.Sprintf("report line: %d", f.ReportLine))
	}
	return strings.Join(lines, "\n")
}

func accountTitle(id, name string) string {
	if id == "" {
		id = "(unknown account)"
	}
	if name != "" {
		return id + " (" + name + ")"
	}
	return id
}
