package report

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

const sarifSchema = "testdata/sarif/sarif-schema-2.1.0.json"

// sarifLog is the part of a SARIF log the tests read back, parsed independently of the
// renderer's types.
type sarifLog struct {
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID         string         `json:"id"`
					Help       map[string]any `json:"help"`
					Properties map[string]any `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		AutomationDetails struct {
			ID string `json:"id"`
		} `json:"automationDetails"`
		Invocations []struct {
			ExecutionSuccessful        bool `json:"executionSuccessful"`
			ToolExecutionNotifications []struct {
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"toolExecutionNotifications"`
		} `json:"invocations"`
		Results []sarifResultView `json:"results"`
	} `json:"runs"`
}

type sarifResultView struct {
	RuleID              string                `json:"ruleId"`
	RuleIndex           *int                  `json:"ruleIndex"`
	Kind                string                `json:"kind"`
	Level               *string               `json:"level"`
	Message             struct{ Text string } `json:"message"`
	PartialFingerprints map[string]string     `json:"partialFingerprints"`
	Locations           []struct {
		PhysicalLocation *struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
			Region *struct {
				StartLine int `json:"startLine"`
			} `json:"region"`
		} `json:"physicalLocation"`
		LogicalLocations []struct {
			Name               string `json:"name"`
			FullyQualifiedName string `json:"fullyQualifiedName"`
			Kind               string `json:"kind"`
		} `json:"logicalLocations"`
	} `json:"locations"`
	Properties struct {
		SecuritySeverity string            `json:"security-severity"`
		Finding          setupkeys.Finding `json:"finding"`
	} `json:"properties"`
}

// renderSARIF renders a, validates it against the SARIF 2.1.0 schema and the rules GitHub and
// the spec add, and returns it parsed.
func renderSARIF(t *testing.T, a setupkeys.Audit, opts Options, maxResults int) (sarifLog, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := sarifWithLimit(&buf, a, opts, maxResults); err != nil {
		t.Fatal(err)
	}
	validateSchema(t, sarifSchema, buf.Bytes())
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	checkSARIFLog(t, log)
	return log, buf.Bytes()
}

func checkSARIFLog(t *testing.T, log sarifLog) {
	t.Helper()
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != 1 || run.Tool.Driver.Rules[0].ID != SARIFRuleID {
		t.Fatalf("rules %+v", run.Tool.Driver.Rules)
	}
	if !strings.HasPrefix(run.AutomationDetails.ID, "setupkeys/") {
		t.Errorf("automationDetails.id %q", run.AutomationDetails.ID)
	}
	if len(run.Results) > SARIFMaxResults {
		t.Errorf("%d results, GitHub takes %d", len(run.Results), SARIFMaxResults)
	}
	for _, r := range run.Results {
		f := r.Properties.Finding
		if r.RuleID != SARIFRuleID || r.RuleIndex == nil || *r.RuleIndex != 0 {
			t.Errorf("%s: rule %q index %v", f.ID, r.RuleID, r.RuleIndex)
		}
		if r.Kind != string(f.Status) {
			t.Errorf("%s: kind %q for status %s", f.ID, r.Kind, f.Status)
		}
		// SARIF §3.27.10: level is "error" for fail here; for any kind but "fail" it must be
		// absent or "none".
		switch {
		case f.Status == setupkeys.StatusFail && (r.Level == nil || *r.Level != "error"):
			t.Errorf("%s: fail with level %v", f.ID, r.Level)
		case f.Status == setupkeys.StatusReview && r.Level != nil && *r.Level != "none":
			t.Errorf("%s: review with level %q", f.ID, *r.Level)
		case f.Status != setupkeys.StatusFail && f.Status != setupkeys.StatusReview:
			t.Errorf("%s: status %s has no place in SARIF", f.ID, f.Status)
		}
		if r.PartialFingerprints[SARIFFingerprintKey] != f.ID || f.ID == "" {
			t.Errorf("%s: fingerprints %v", f.ID, r.PartialFingerprints)
		}
		if len(r.Locations) != 1 || r.Locations[0].PhysicalLocation == nil || r.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" {
			t.Errorf("%s: GitHub shows no result without a physical location: %+v", f.ID, r.Locations)
			continue
		}
		if ll := r.Locations[0].LogicalLocations; len(ll) != 1 || ll[0].FullyQualifiedName != f.ARN || ll[0].Name != f.User || ll[0].Kind != "resource" {
			t.Errorf("%s: logical location %+v", f.ID, ll)
		}
		if sev, _ := SeverityOf(f.Status); r.Properties.SecuritySeverity != sev.Score {
			t.Errorf("%s: security-severity %q", f.ID, r.Properties.SecuritySeverity)
		}
		if !strings.Contains(r.Message.Text, f.AccountID) || !strings.Contains(r.Message.Text, sarifEscape(f.User)) {
			t.Errorf("%s: message %q", f.ID, r.Message.Text)
		}
	}
}

func TestSARIFRuleHasCISAndRemediation(t *testing.T) {
	log, _ := renderSARIF(t, setupkeys.Audit{Window: time.Minute, Accounts: []setupkeys.AccountResult{{AccountID: "123456789012"}}}, Options{Now: now, ToolVersion: "1.2.3"}, SARIFMaxResults)
	run := log.Runs[0]
	if run.Tool.Driver.Name != "setupkeys" || run.Tool.Driver.Version != "1.2.3" {
		t.Errorf("driver %+v", run.Tool.Driver)
	}
	rule := run.Tool.Driver.Rules[0]
	help := fmt.Sprint(rule.Help["text"], rule.Help["markdown"])
	for _, want := range []string{"setupkeys plan -o plan.json", "setupkeys apply plan.json", "setupkeys rollback", "v1.2.0: 1.21", "v1.3.0 to v4.0.1: 1.11", "v5.0.0: 1.10", "v6.0.0: 2.10", "v1.1.0: 1.23"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q: %s", want, help)
		}
	}
	if rule.Properties["security-severity"] != "5.5" || len(rule.Properties["cis-aws-foundations"].([]any)) != len(CISReferences) {
		t.Errorf("rule properties %v", rule.Properties)
	}
	if len(run.Results) != 0 || !run.Invocations[0].ExecutionSuccessful {
		t.Errorf("empty audit: %+v", run)
	}
}

func TestSARIFResults(t *testing.T) {
	generated := now.Add(-time.Hour)
	liveSrc := setupkeys.Source{Kind: setupkeys.SourceLiveReport, GeneratedTime: &generated}
	fileSrc := func(name string) setupkeys.Source {
		return setupkeys.Source{Kind: setupkeys.SourceReportFile, File: name}
	}
	withSource := func(f setupkeys.Finding, src setupkeys.Source, line int) setupkeys.Finding {
		f.Source, f.ReportLine = src, line
		return f
	}
	hostile := finding("x]( https://evil.example)[y", setupkeys.StatusFail, "")
	hostile.Reason = "ctrl \x1b[31m and \"quotes\" <b>"
	tests := []struct {
		name     string
		findings []setupkeys.Finding
		wantURIs []string
		wantLine []int
	}{
		{"report file, relative path", []setupkeys.Finding{withSource(finding("amy", setupkeys.StatusFail, ""), fileSrc("reports/cred report.csv"), 7)},
			[]string{"reports/cred%20report.csv"}, []int{7}},
		{"report file, absolute path", []setupkeys.Finding{withSource(finding("amy", setupkeys.StatusReview, ""), fileSrc("/tmp/r.csv"), 3)},
			[]string{"file:///tmp/r.csv"}, []int{3}},
		{"report file, a colon in the first segment", []setupkeys.Finding{withSource(finding("amy", setupkeys.StatusFail, ""), fileSrc("c:x.csv"), 2)},
			[]string{"./c:x.csv"}, []int{2}},
		{"report on stdin: the ARN", []setupkeys.Finding{withSource(finding("amy", setupkeys.StatusFail, ""), fileSrc("stdin"), 2)},
			[]string{"arn:aws:iam::123456789012:user/amy"}, []int{0}},
		{"live: the ARN", []setupkeys.Finding{withSource(finding("amy", setupkeys.StatusFail, "AKIAIOSFODNN7EXAMPLE"), liveSrc, 0)},
			[]string{"arn:aws:iam::123456789012:user/amy"}, []int{0}},
		{"hostile values are escaped", []setupkeys.Finding{withSource(hostile, liveSrc, 0)}, []string{"arn:aws:iam::123456789012:user/x%5D(%20https://evil.example)%5By"}, []int{0}},
		{"pass and suppressed are left out", []setupkeys.Finding{finding("p", setupkeys.StatusPass, ""), finding("s", setupkeys.StatusSuppressed, "")}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := setupkeys.Audit{StartedAt: now, Window: time.Minute, Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", Findings: tt.findings}}}
			log, raw := renderSARIF(t, a, Options{Now: now}, SARIFMaxResults)
			results := log.Runs[0].Results
			if len(results) != len(tt.wantURIs) {
				t.Fatalf("%d results, want %d", len(results), len(tt.wantURIs))
			}
			for i, r := range results {
				pl := r.Locations[0].PhysicalLocation
				if pl.ArtifactLocation.URI != tt.wantURIs[i] {
					t.Errorf("uri %q, want %q", pl.ArtifactLocation.URI, tt.wantURIs[i])
				}
				line := 0
				if pl.Region != nil {
					line = pl.Region.StartLine
				}
				if line != tt.wantLine[i] {
					t.Errorf("line %d, want %d", line, tt.wantLine[i])
				}
			}
			if bytes.ContainsAny(raw, "\x1b") {
				t.Errorf("raw control character in the output:\n%s", raw)
			}
			for _, r := range results {
				if msg := strings.ReplaceAll(r.Message.Text, `\]`, ""); strings.Contains(msg, "](") {
					t.Errorf("message reads as a SARIF link: %q", r.Message.Text)
				}
			}
			if log.Runs[0].AutomationDetails.ID != "setupkeys/123456789012/2026-11-27T12:00:00Z" {
				t.Errorf("automation id %q", log.Runs[0].AutomationDetails.ID)
			}
		})
	}
}

// The same key read from a report and from the live account has one finding ID, so one
// fingerprint: GitHub keeps one alert. Two keys of one user have two.
func TestSARIFFingerprintsStablePerKey(t *testing.T) {
	created := now.Add(-48 * time.Hour)
	arn := "arn:aws:iam::123456789012:user/amy"
	fromFile := finding("amy", setupkeys.StatusFail, "")
	fromFile.ID = setupkeys.FindingID("123456789012", arn, 0, created)
	fromLive := fromFile
	fromLive.AccessKeyID = ptr("AKIAIOSFODNN7EXAMPLE")
	fromLive.KeySlot = 2
	other := fromFile
	other.ID = setupkeys.FindingID("123456789012", arn, 0, created.Add(time.Minute))
	fp := func(fs ...setupkeys.Finding) []string {
		log, _ := renderSARIF(t, setupkeys.Audit{Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", Findings: fs}}}, Options{Now: now}, SARIFMaxResults)
		var out []string
		for _, r := range log.Runs[0].Results {
			out = append(out, r.PartialFingerprints[SARIFFingerprintKey])
		}
		return out
	}
	a, b := fp(fromFile), fp(fromLive)
	if a[0] != b[0] {
		t.Errorf("report %s, live %s: one key, two fingerprints", a[0], b[0])
	}
	both := fp(fromFile, other)
	if both[0] == both[1] {
		t.Errorf("two keys, one fingerprint %s", both[0])
	}
}

func TestSARIFNotifications(t *testing.T) {
	a := setupkeys.Audit{StartedAt: now, Accounts: []setupkeys.AccountResult{
		{AccountID: "123456789012", Warnings: []string{"a key changed since the report"}, Findings: []setupkeys.Finding{finding("amy", setupkeys.StatusFail, "")}},
		{AccountID: "210987654321", Err: errors.New("AssumeRole: AccessDenied")},
	}, Skipped: []setupkeys.SkippedAccount{{AccountID: "333333333333", Name: "old", Reason: setupkeys.SkipSuspended}}}
	log, _ := renderSARIF(t, a, Options{Now: now}, SARIFMaxResults)
	inv := log.Runs[0].Invocations[0]
	if inv.ExecutionSuccessful {
		t.Error("an account failed: executionSuccessful must be false")
	}
	var got []string
	for _, n := range inv.ToolExecutionNotifications {
		got = append(got, n.Level+": "+n.Message.Text)
	}
	want := []string{"error: account 210987654321 could not be audited: AssumeRole: AccessDenied", "warning: account 123456789012: a key changed since the report",
		"note: account 333333333333 (old) skipped, not audited: suspended (only ACTIVE accounts are audited)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notifications\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if log.Runs[0].AutomationDetails.ID != "setupkeys/organization/2026-11-27T12:00:00Z" {
		t.Errorf("automation id %q", log.Runs[0].AutomationDetails.ID)
	}
}

// Over the result limit, fail findings are kept before review ones and a notification says how
// many were left out.
func TestSARIFResultLimit(t *testing.T) {
	var fs []setupkeys.Finding
	for i, s := range []setupkeys.Status{setupkeys.StatusReview, setupkeys.StatusFail, setupkeys.StatusReview, setupkeys.StatusFail, setupkeys.StatusReview} {
		f := finding(fmt.Sprintf("u%d", i), s, "")
		fs = append(fs, f)
	}
	a := setupkeys.Audit{Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", Findings: fs}}}
	log, _ := renderSARIF(t, a, Options{Now: now}, 3)
	var kinds []string
	for _, r := range log.Runs[0].Results {
		kinds = append(kinds, r.Kind+":"+r.Properties.Finding.User)
	}
	if strings.Join(kinds, ",") != "fail:u1,fail:u3,review:u0" {
		t.Errorf("kept %v", kinds)
	}
	notes := log.Runs[0].Invocations[0].ToolExecutionNotifications
	if len(notes) != 1 || !strings.Contains(notes[0].Message.Text, "2 findings left out") {
		t.Errorf("notifications %+v", notes)
	}
	log, _ = renderSARIF(t, a, Options{Now: now}, 1)
	if len(log.Runs[0].Results) != 1 || log.Runs[0].Results[0].Kind != "fail" {
		t.Errorf("limit 1 kept %+v", log.Runs[0].Results)
	}
}

// GitHub also takes at most 10 MB of gzipped SARIF. A full run of the longest values IAM
// allows (64-character names, 512-character paths) stays well under it.
func TestSARIFFullRunFitsGitHubSizeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 25,000 results")
	}
	path := "/" + strings.Repeat("p", 510) + "/"
	var fs []setupkeys.Finding
	for i := range SARIFMaxResults + 10 {
		user := fmt.Sprintf("%s%06d", strings.Repeat("u", 58), i)
		f := finding(user, setupkeys.StatusFail, fmt.Sprintf("AKIA%016d", i))
		f.ARN = "arn:aws:iam::123456789012:user" + path + user
		f.ID = setupkeys.FindingID(f.AccountID, f.ARN, 0, f.KeyCreated)
		f.Source = setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "reports/" + strings.Repeat("r", 200) + ".csv"}
		f.ReportLine = i + 2
		fs = append(fs, f)
	}
	a := setupkeys.Audit{Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", Findings: fs}}}
	var counted countingWriter
	zw := gzip.NewWriter(&counted)
	if err := SARIF(zw, a, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d results: %d bytes gzipped", SARIFMaxResults, counted.n)
	if counted.n >= 10<<20 {
		t.Errorf("%d bytes gzipped, GitHub takes at most 10 MB", counted.n)
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)

// The golden file of the bundled example (written by the cli tests) is valid SARIF.
func TestSARIFExampleGoldenValidates(t *testing.T) {
	data, err := os.ReadFile("../cli/testdata/example.sarif")
	if err != nil {
		t.Fatal(err)
	}
	validateSchema(t, sarifSchema, data)
	var log sarifLog
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatal(err)
	}
	checkSARIFLog(t, log)
	if n := len(log.Runs[0].Results); n != 5 {
		t.Errorf("%d results, want the example's 4 fail + 1 review", n)
	}
}
