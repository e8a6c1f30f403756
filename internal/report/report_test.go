package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func finding(user string, status setupkeys.Status, keyID string) setupkeys.Finding {
	f := setupkeys.Finding{ID: "sk-" + user, AccountID: "123456789012", User: user, ARN: "arn:aws:iam::123456789012:user/" + user, KeySlot: 1, Status: status,
		UserCreated: now.Add(-48 * time.Hour), KeyCreated: now.Add(-48*time.Hour + 4*time.Second), GapSeconds: 4, Reason: "because"}
	if keyID != "" {
		f.AccessKeyID = &keyID
	}
	return f
}

func TestTable(t *testing.T) {
	generated := now.Add(-90 * time.Minute)
	audit := setupkeys.Audit{Window: 10 * time.Minute, Accounts: []setupkeys.AccountResult{
		{AccountID: "123456789012", AccountName: "prod", Users: 3, Passed: 2, Source: setupkeys.Source{Kind: setupkeys.SourceLiveReport, GeneratedTime: &generated},
			Findings: []setupkeys.Finding{finding("zed", setupkeys.StatusReview, ""), finding("amy", setupkeys.StatusFail, "AKIAIOSFODNN7EXAMPLE")}},
		{AccountID: "210987654321", Err: errors.New("AssumeRole: AccessDenied")},
	}}
	tests := []struct {
		name      string
		show      bool
		want      []string
		wantNotIn []string
	}{
		{"masked", false, []string{"AKIA************MPLE", "Account 123456789012 (prod): 3 users", "generated 2026-11-27T10:30:00Z (1h30m0s old", "ERROR: AssumeRole: AccessDenied",
			"Summary: 1 fail, 1 review, 2 pass (window 10m0s, 2 accounts, 1 could not be audited)", "Passing keys are counted, not listed"}, []string{"AKIAIOSFODNN7EXAMPLE"}},
		{"shown", true, []string{"AKIAIOSFODNN7EXAMPLE"}, []string{"AKIA************MPLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Table(&buf, audit, Options{ShowKeyIDs: tt.show, Now: now}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNotIn {
				if strings.Contains(out, w) {
					t.Errorf("table has %q:\n%s", w, out)
				}
			}
			if strings.Index(out, "amy") > strings.Index(out, "zed") {
				t.Errorf("fail should come before review:\n%s", out)
			}
		})
	}
}

func TestDocumentCountsAndAge(t *testing.T) {
	generated := now.Add(-time.Hour)
	suppressed := finding("sam", setupkeys.StatusSuppressed, "")
	doc := NewDocument(setupkeys.Audit{Window: time.Minute, Accounts: []setupkeys.AccountResult{{
		AccountID: "123456789012", Users: 4, Passed: 1, Warnings: []string{"w"},
		Source:   setupkeys.Source{Kind: setupkeys.SourceLiveReport, GeneratedTime: &generated},
		Findings: []setupkeys.Finding{finding("a", setupkeys.StatusFail, ""), suppressed, finding("b", setupkeys.StatusPass, "")},
	}}}, now)
	if doc.Summary != (Summary{Accounts: 1, Users: 4, Fail: 1, Pass: 1, Suppressed: 1}) {
		t.Errorf("summary %+v", doc.Summary)
	}
	if doc.Source.AgeSeconds == nil || *doc.Source.AgeSeconds != 3600 {
		t.Errorf("age %v", doc.Source.AgeSeconds)
	}
	if len(doc.Warnings) != 1 || len(doc.Findings) != 3 || doc.Findings[0].Status != setupkeys.StatusFail || doc.Findings[2].Status != setupkeys.StatusPass {
		t.Errorf("doc %+v", doc)
	}
}

func TestCSVDefusesFormulas(t *testing.T) {
	var buf bytes.Buffer
	audit := setupkeys.Audit{Accounts: []setupkeys.AccountResult{{Findings: []setupkeys.Finding{finding("=cmd", setupkeys.StatusFail, ""), finding("+x,y", setupkeys.StatusFail, "")}}}}
	if err := CSV(&buf, audit); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1][2] != "'+x,y" || rows[2][2] != "'=cmd" {
		t.Errorf("rows %q", rows)
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, "xml", setupkeys.Audit{}, Options{}); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("err %v", err)
	}
}

func TestRegistry(t *testing.T) {
	if len(Formats) != len(registry) {
		t.Fatalf("Formats %v, registry %d entries", Formats, len(registry))
	}
	for _, name := range Formats {
		if render, ok := Lookup(name); !ok || render == nil {
			t.Errorf("format %q has no renderer", name)
		}
	}
	if _, ok := Lookup("xml"); ok {
		t.Error("xml found")
	}
	err := Render(&bytes.Buffer{}, "xml", setupkeys.Audit{}, Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Errorf("Render xml: %v", err)
	}
}

// Data from a report file or an account name reaches a terminal: no control character, ESC
// sequence, NUL or invalid UTF-8 byte may come out raw in the table or the CSV.
func TestTextOutputsEscapeHostileData(t *testing.T) {
	hostile := "ev\x1b[2Jil\x00\xff\u202e\r\n"
	f := finding(hostile, setupkeys.StatusFail, "AKIAIOSFODNN7EXAMPLE")
	f.ARN = "arn:aws:iam::123456789012:user/" + hostile
	f.Reason = "reason " + hostile
	f.LastUsedService = hostile
	f.Suppression = &setupkeys.SuppressionNote{Reason: hostile}
	audit := setupkeys.Audit{Window: 10 * time.Minute, Accounts: []setupkeys.AccountResult{{
		AccountID: "123456789012", AccountName: hostile, Users: 1,
		Source:   setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "/tmp/" + hostile},
		Warnings: []string{"warn " + hostile}, Err: errors.New("err " + hostile), Findings: []setupkeys.Finding{f},
	}}}
	for name, render := range map[string]func(*bytes.Buffer) error{
		"table": func(b *bytes.Buffer) error { return Table(b, audit, Options{Now: now}) },
		"csv":   func(b *bytes.Buffer) error { return CSV(b, audit) },
	} {
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, bad := range []string{"\x1b", "\x00", "\xff", "\u202e", "\r"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s output holds %q raw:\n%q", name, bad, out)
			}
		}
		if !strings.Contains(out, `ev\x1b[2Jil\x00\xff\u202e\r\n`) {
			t.Errorf("%s output does not show the name escaped:\n%s", name, out)
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		text  string
		width int
		want  string
	}{
		{"short", 80, "> short\n"},
		{"one two three four", 12, "> one two\n  three four\n"},
		{"averyveryverylongword and more", 10, "> averyveryverylongword\n  and more\n"},
		{"no limit at all here", 0, "> no limit at all here\n"},
	}
	for _, tt := range tests {
		if got := wrap(tt.text, tt.width, "> ", "  ", true); got != tt.want {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.text, tt.width, got, tt.want)
		}
	}
}

// A table wider than Width is laid out narrow; with the example's names that fits 80 columns.
func TestTableNarrow(t *testing.T) {
	audit := exampleAudit(t)
	for _, width := range []int{60, 80, 100} {
		var buf bytes.Buffer
		if err := Table(&buf, audit, Options{Now: time.Now(), Width: width}); err != nil {
			t.Fatal(err)
		}
		if got := maxLineWidth(buf.String()); got > width && width >= 80 {
			t.Errorf("width %d: a line of %d columns:\n%s", width, got, buf.String())
		}
		if strings.Contains(buf.String(), "USER CREATED") {
			t.Errorf("width %d: the wide layout:\n%s", width, buf.String())
		}
	}
	var buf bytes.Buffer
	if err := Table(&buf, audit, Options{Now: time.Now(), Width: 1000}); err != nil || !strings.Contains(buf.String(), "USER CREATED") {
		t.Errorf("a wide terminal gets the wide layout: %v\n%s", err, buf.String())
	}
}

// A user name of IAM's full 64 characters does not fit the narrow columns of 80: the names then
// go on a line of their own under each key, whole.
func TestTableNarrowLongUserName(t *testing.T) {
	audit := exampleAudit(t)
	long := strings.Repeat("n", 60) + "@x.y"
	audit.Accounts[0].Findings[0].User = long
	var buf bytes.Buffer
	if err := Table(&buf, audit, Options{Now: time.Now(), Width: 80}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if got := maxLineWidth(out); got > 80 {
		t.Errorf("a line of %d columns:\n%s", got, out)
	}
	if !strings.Contains(out, "\n      user "+long+"\n") || !strings.Contains(out, "  STATUS  SLOT  ACCESS KEY") {
		t.Errorf("the long name is not on its own line, or USER is still a column:\n%s", out)
	}
	for _, f := range audit.Accounts[0].Findings {
		if !strings.Contains(out, "      user "+f.User+"\n") {
			t.Errorf("user %s has no line of its own:\n%s", f.User, out)
		}
	}
}

// Skipped accounts are counted in the summary and listed, in JSON and the table (wide and narrow),
// their names escaped.
func TestSkippedAccounts(t *testing.T) {
	audit := setupkeys.Audit{Window: 10 * time.Minute,
		Accounts: []setupkeys.AccountResult{
			{AccountID: "111111111111", Users: 1, Source: setupkeys.Source{Kind: setupkeys.SourceLiveAPI}},
			{AccountID: "222222222222", Users: 1, Source: setupkeys.Source{Kind: setupkeys.SourceLiveAPI}},
		},
		Skipped: []setupkeys.SkippedAccount{
			{AccountID: "333333333333", Name: "old\x1b[31m", Reason: setupkeys.SkipSuspended},
			{AccountID: "444444444444", Reason: setupkeys.SkipExcluded},
		},
	}
	doc := NewDocument(audit, now)
	if doc.Summary.AccountsSkipped != 2 || len(doc.SkippedAccounts) != 2 || doc.SkippedAccounts[0] != audit.Skipped[0] {
		t.Errorf("summary %+v, skipped %+v", doc.Summary, doc.SkippedAccounts)
	}
	var js bytes.Buffer
	if err := JSON(&js, audit, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"accounts_skipped":2`, `"skipped_accounts":[{"account_id":"333333333333","name":"old\u001b[31m","reason":"suspended"},{"account_id":"444444444444","name":"","reason":"excluded"}]`} {
		if !strings.Contains(js.String(), w) {
			t.Errorf("JSON lacks %s:\n%s", w, js.String())
		}
	}
	if err := JSON(&js, setupkeys.Audit{}, Options{Now: now}); err != nil || !strings.Contains(js.String(), `"skipped_accounts":[]`) {
		t.Errorf("a run without skipped accounts: %v\n%s", err, js.String())
	}

	for _, width := range []int{0, 50} {
		var buf bytes.Buffer
		if err := Table(&buf, audit, Options{Now: now, Width: width}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, w := range []string{"(window 10m0s, 2 accounts, 2 skipped)", "2 accounts skipped (not audited):\n",
			"  333333333333 (old\\x1b[31m): suspended", "  444444444444: excluded (--exclude-accounts)"} {
			if !strings.Contains(out, w) {
				t.Errorf("width %d: table lacks %q:\n%s", width, w, out)
			}
		}
		if strings.Contains(out, "\x1b") {
			t.Errorf("width %d: raw escape in the table:\n%q", width, out)
		}
	}
}

// Counts are worded for their number: "1 user", "2 accounts", never "1 users".
func TestTableCountsGrammar(t *testing.T) {
	audit := exampleAudit(t)
	one := audit.Accounts[0]
	one.Users = 1
	audit.Accounts = []setupkeys.AccountResult{one}
	var buf bytes.Buffer
	if err := Table(&buf, audit, Options{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ": 1 user, source:") || strings.Contains(buf.String(), "1 users") {
		t.Errorf("one user:\n%s", buf.String())
	}
	two := one
	two.AccountID = "210987654321"
	audit.Accounts = append(audit.Accounts, two)
	buf.Reset()
	if err := Table(&buf, audit, Options{Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ", 2 accounts)") {
		t.Errorf("two accounts:\n%s", buf.String())
	}
}
