package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/joshdk/go-junit"

	"github.com/setupkeys/setupkeys"
)

// JUnit output is read back by github.com/joshdk/go-junit, a reader written for the files
// Jenkins, GitLab and other CI systems consume, not by the code that wrote it.
func TestJUnitAsCIReadsIt(t *testing.T) {
	expires := now.Add(24 * time.Hour)
	suppressed := finding("sam", setupkeys.StatusSuppressed, "")
	suppressed.Suppression = &setupkeys.SuppressionNote{Reason: "break-glass user", Expires: &expires, Was: setupkeys.StatusFail}
	hostile := finding("x\"<&>\x01]]>", setupkeys.StatusFail, "")
	audit := setupkeys.Audit{StartedAt: now, Window: 10 * time.Minute, Accounts: []setupkeys.AccountResult{
		{AccountID: "123456789012", AccountName: "prod", Findings: []setupkeys.Finding{
			finding("amy", setupkeys.StatusFail, "AKIAIOSFODNN7EXAMPLE"), finding("erin", setupkeys.StatusReview, ""), suppressed,
			finding("pat", setupkeys.StatusPass, ""), hostile}},
		{AccountID: "210987654321", Err: errors.New("AssumeRole: AccessDenied")},
	}}
	tests := []struct {
		strict bool
		want   map[string]junit.Status
	}{
		{false, map[string]junit.Status{
			"123456789012|amy / access key 1 (AKIAIOSFODNN7EXAMPLE)": junit.StatusFailed,
			"123456789012|erin / access key 1":                       junit.StatusPassed,
			"123456789012|sam / access key 1":                        junit.StatusSkipped,
			"123456789012|pat / access key 1":                        junit.StatusPassed,
			"123456789012|x\"<&>\uFFFD]]> / access key 1":            junit.StatusFailed,
			"210987654321|audit the account":                         junit.StatusError,
		}},
		{true, map[string]junit.Status{
			"123456789012|amy / access key 1 (AKIAIOSFODNN7EXAMPLE)": junit.StatusFailed,
			"123456789012|erin / access key 1":                       junit.StatusFailed,
			"123456789012|sam / access key 1":                        junit.StatusSkipped,
			"123456789012|pat / access key 1":                        junit.StatusPassed,
			"123456789012|x\"<&>\uFFFD]]> / access key 1":            junit.StatusFailed,
			"210987654321|audit the account":                         junit.StatusError,
		}},
	}
	for _, tt := range tests {
		t.Run(map[bool]string{false: "default", true: "strict"}[tt.strict], func(t *testing.T) {
			var buf bytes.Buffer
			if err := JUnit(&buf, audit, Options{Now: now, Strict: tt.strict}); err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(buf.Bytes()) || bytes.ContainsAny(buf.Bytes(), "\x01") {
				t.Fatalf("invalid XML characters in the output:\n%s", buf.String())
			}
			suites, err := junit.Ingest(buf.Bytes())
			if err != nil {
				t.Fatalf("go-junit cannot read it: %v\n%s", err, buf.String())
			}
			got := map[string]junit.Status{}
			for _, s := range suites {
				for _, c := range s.Tests {
					got[c.Classname+"|"+c.Name] = c.Status
					if c.Status == junit.StatusFailed && !strings.Contains(c.Message, "access key") {
						t.Errorf("%s: failure message %q", c.Name, c.Message)
					}
					if c.Status == junit.StatusSkipped && !strings.Contains(c.Message, "break-glass user") {
						t.Errorf("%s: skipped message %q", c.Name, c.Message)
					}
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("cases %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s: %q, want %q", k, got[k], w)
				}
			}
			if len(suites) != 2 || suites[0].Name != "setupkeys 123456789012 (prod)" || suites[0].Totals.Tests != 5 {
				t.Errorf("suites %+v", suites)
			}
			if suites[0].Properties["window"] != "10m0s" {
				t.Errorf("properties %v", suites[0].Properties)
			}
			// The counts in the attributes agree with the cases, as Jenkins trusts them.
			failures := 3
			if !tt.strict {
				failures = 2
			}
			if !strings.Contains(buf.String(), `<testsuites name="setupkeys audit" tests="6" failures="`+strconv.Itoa(failures)+`" errors="1" skipped="1"`) {
				t.Errorf("totals:\n%s", buf.String())
			}
		})
	}
}

func TestJUnitExampleGolden(t *testing.T) {
	data, err := os.ReadFile("../cli/testdata/example.junit")
	if err != nil {
		t.Fatal(err)
	}
	suites, err := junit.Ingest(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 1 {
		t.Fatalf("%d suites", len(suites))
	}
	tot := suites[0].Totals
	if tot.Tests != 9 || tot.Failed != 4 || tot.Passed != 5 || tot.Skipped != 0 {
		t.Errorf("totals %+v, want the example's 9 keys (--all): 4 fail, 1 review and 4 pass passing", tot)
	}
}

// A skipped account is a suite of one skipped case, counted in the totals.
func TestJUnitSkippedAccount(t *testing.T) {
	a := setupkeys.Audit{Window: 10 * time.Minute,
		Accounts: []setupkeys.AccountResult{{AccountID: "111111111111", Source: setupkeys.Source{Kind: setupkeys.SourceLiveAPI}}},
		Skipped:  []setupkeys.SkippedAccount{{AccountID: "222222222222", Name: "old", Reason: setupkeys.SkipSuspended}}}
	var buf bytes.Buffer
	if err := JUnit(&buf, a, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 1 || doc.Skipped != 1 || len(doc.Suites) != 2 {
		t.Fatalf("totals %+v", doc)
	}
	s := doc.Suites[1]
	if s.Name != "setupkeys 222222222222 (old)" || s.Skipped != 1 || len(s.Cases) != 1 || s.Cases[0].Skipped == nil ||
		s.Cases[0].Skipped.Message != "skipped, not audited: suspended (only ACTIVE accounts are audited)" {
		t.Errorf("suite %+v", s)
	}
}
