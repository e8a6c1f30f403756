// Package report renders an audit for people (table) and machines (JSON, CSV). Renderers only
// present what the rule and the sources decided; they never judge a key.
package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// SchemaVersion is the version of the JSON document. Additive changes keep it; a field removed or
// changed in meaning bumps it.
const SchemaVersion = 1

// Options control presentation only.
type Options struct {
	// ShowKeyIDs prints access key IDs in full in the table; otherwise they are masked.
	// JSON and CSV always carry full IDs: they feed other tools.
	ShowKeyIDs bool
	// Now is the time the report's age is measured against.
	Now time.Time
	// IndentJSON pretty-prints JSON for a person at a terminal; pipes get compact JSON, which is
	// several times faster to write for large audits.
	IndentJSON bool
	// Strict marks review findings as failures where a format has failures (JUnit), as
	// --strict does for the exit code.
	Strict bool
	// ToolVersion is setupkeys' version, for formats that name the tool (SARIF, OCSF).
	ToolVersion string
	// Width is the terminal's width in columns: a table wider than that is laid out narrow
	// (fewer columns, each reason on its own indented line). 0 means no limit (a file, a pipe).
	Width int
}

// Document is the JSON output, documented in README.md ("JSON output").
type Document struct {
	SchemaVersion int              `json:"schema_version"`
	GeneratedAt   time.Time        `json:"generated_at"`
	Window        string           `json:"window"`
	Source        DocumentSource   `json:"source"`
	Summary       Summary          `json:"summary"`
	Accounts      []AccountSummary `json:"accounts"`
	// SkippedAccounts are the accounts a multi-account run left out, with why (suspended,
	// excluded); they were not audited.
	SkippedAccounts []setupkeys.SkippedAccount `json:"skipped_accounts"`
	Warnings        []string                   `json:"warnings"`
	Findings        []setupkeys.Finding        `json:"findings"`
	// Error is why the run could not audit at all (no credentials, a bad report file); the
	// document is then otherwise empty. Accounts that failed on their own are in Accounts.
	Error string `json:"error,omitempty"`
}

// DocumentSource is where the run's data came from. For one account it is that account's source;
// for several it is "organization" and each account names its own.
type DocumentSource struct {
	setupkeys.Source
	// AgeSeconds is how old a live report was when the run read it.
	AgeSeconds *int64 `json:"age_seconds,omitempty"`
}

// Summary counts keys by status over the run.
type Summary struct {
	Accounts        int `json:"accounts"`
	AccountsErrored int `json:"accounts_errored"`
	AccountsSkipped int `json:"accounts_skipped"`
	Users           int `json:"users"`
	Fail            int `json:"fail"`
	Review          int `json:"review"`
	Pass            int `json:"pass"`
	Suppressed      int `json:"suppressed"`
	Pending         int `json:"pending,omitempty"`
}

// AccountSummary is one account's outcome: "ok", or "error" with the reason.
type AccountSummary struct {
	AccountID   string           `json:"account_id"`
	AccountName string           `json:"account_name,omitempty"`
	Status      string           `json:"status"`
	Error       string           `json:"error,omitempty"`
	Source      setupkeys.Source `json:"source"`
	Users       int              `json:"users"`
	Fail        int              `json:"fail"`
	Review      int              `json:"review"`
	Pass        int              `json:"pass"`
	Suppressed  int              `json:"suppressed"`
	Pending     int              `json:"pending,omitempty"`
}

// NewDocument builds the JSON document of an audit.
func NewDocument(a setupkeys.Audit, now time.Time) Document {
	doc := Document{
		SchemaVersion: SchemaVersion,
		GeneratedAt:   now.UTC(),
		Window:        a.Window.String(),
		Warnings:      []string{},
		Findings:      []setupkeys.Finding{},
		Accounts:      []AccountSummary{},
		// A copy, so that the document never shares the audit's slice.
		SkippedAccounts: append([]setupkeys.SkippedAccount{}, a.Skipped...),
	}
	doc.Summary.AccountsSkipped = len(a.Skipped)
	for _, acct := range a.Accounts {
		s := AccountSummary{AccountID: acct.AccountID, AccountName: acct.AccountName, Status: "ok", Source: acct.Source, Users: acct.Users, Pass: acct.Passed}
		if acct.Err != nil {
			s.Status, s.Error = "error", acct.Err.Error()
			doc.Summary.AccountsErrored++
		}
		for _, f := range acct.Findings {
			switch f.Status {
			case setupkeys.StatusFail:
				s.Fail++
			case setupkeys.StatusReview:
				s.Review++
			case setupkeys.StatusSuppressed:
				s.Suppressed++
			case setupkeys.StatusPending:
				s.Pending++
			}
		}
		doc.Accounts = append(doc.Accounts, s)
		doc.Summary.Users += s.Users
		doc.Summary.Fail += s.Fail
		doc.Summary.Review += s.Review
		doc.Summary.Pass += s.Pass
		doc.Summary.Suppressed += s.Suppressed
		doc.Summary.Pending += s.Pending
		for _, w := range acct.Warnings {
			if len(a.Accounts) > 1 {
				w = "account " + acct.AccountID + ": " + w
			}
			doc.Warnings = append(doc.Warnings, w)
		}
		doc.Findings = append(doc.Findings, acct.Findings...)
	}
	doc.Summary.Accounts = len(a.Accounts)
	if len(a.Accounts) == 1 {
		doc.Source = DocumentSource{Source: a.Accounts[0].Source}
		if g := a.Accounts[0].Source.GeneratedTime; g != nil && a.Accounts[0].Source.Kind == setupkeys.SourceLiveReport {
			age := int64(now.Sub(*g) / time.Second)
			doc.Source.AgeSeconds = &age
		}
	} else if len(a.Accounts) > 1 {
		doc.Source = DocumentSource{Source: setupkeys.Source{Kind: "organization"}}
	}
	sortFindings(doc.Findings)
	return doc
}

// JSON writes the audit as one JSON object.
func JSON(w io.Writer, a setupkeys.Audit, opts Options) error {
	return WriteJSON(w, NewDocument(a, opts.Now), opts)
}

// WriteJSON writes doc as JSON, indented when opts.IndentJSON.
func WriteJSON(w io.Writer, doc Document, opts Options) error {
	enc := json.NewEncoder(w)
	if opts.IndentJSON {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(doc)
}

// csvHeader names the CSV columns; they follow the JSON finding's field names.
// The suppression columns came last, so that readers of the older columns by position keep working.
var csvHeader = []string{"account_id", "account_name", "user", "arn", "key_slot", "access_key_id", "status", "user_created", "key_created", "gap_seconds", "last_used", "last_used_service", "last_used_region", "source", "reason", "finding_id",
	"suppression_reason", "suppression_expires", "suppression_was"}

// CSV writes one row per finding, for spreadsheets and grep.
func CSV(w io.Writer, a setupkeys.Audit) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, f := range NewDocument(a, time.Time{}).Findings {
		keyID, lastUsed := "", ""
		if f.AccessKeyID != nil {
			keyID = *f.AccessKeyID
		}
		if f.LastUsed != nil {
			lastUsed = f.LastUsed.Format(time.RFC3339)
		}
		var suppReason, suppExpires, suppWas string
		if n := f.Suppression; n != nil {
			suppReason, suppWas = csvSafe(n.Reason), string(n.Was)
			if n.Expires != nil {
				suppExpires = n.Expires.UTC().Format(time.RFC3339)
			}
		}
		err := cw.Write([]string{f.AccountID, csvSafe(f.AccountName), csvSafe(f.User), termsafe.String(f.ARN), strconv.Itoa(f.KeySlot), termsafe.String(keyID), string(f.Status),
			f.UserCreated.Format(time.RFC3339), f.KeyCreated.Format(time.RFC3339), strconv.FormatInt(f.GapSeconds, 10), lastUsed,
			termsafe.String(f.LastUsedService), termsafe.String(f.LastUsedRegion), string(f.Source.Kind), termsafe.String(f.Reason), termsafe.String(f.ID),
			suppReason, suppExpires, suppWas})
		if err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses values a spreadsheet would run as a formula. IAM user names and account names
// may begin with + = - @. Like every other text cell it is terminal-safe: CSV goes to stdout too.
func csvSafe(v string) string {
	v = termsafe.String(v)
	if v != "" && strings.ContainsRune("=+-@", rune(v[0])) {
		return "'" + v
	}
	return v
}

// Table writes the audit for people: where the data came from and how old it is, then per account
// each key with its evidence and the reason for its status, then a summary. When the wide layout
// does not fit opts.Width, the narrow one is used: fewer columns, and each reason on its own
// indented line, wrapped to the width.
func Table(w io.Writer, a setupkeys.Audit, opts Options) error {
	if opts.Width > 0 {
		var wide bytes.Buffer
		if err := table(&wide, a, opts, false); err != nil {
			return err
		}
		if maxLineWidth(wide.String()) <= opts.Width {
			_, err := w.Write(wide.Bytes())
			return err
		}
		return table(w, a, opts, true)
	}
	return table(w, a, opts, false)
}

func table(w io.Writer, a setupkeys.Audit, opts Options, narrow bool) error {
	doc := NewDocument(a, opts.Now)
	ew := &errWriter{w: w}
	width := opts.Width
	for i, acct := range a.Accounts {
		if i > 0 {
			ew.printf("\n")
		}
		title := accountLabel(acct.AccountID, acct.AccountName)
		if acct.Err != nil {
			// An account that could not be audited has no user count to give.
			ew.printf("Account %s: could not be audited\n", title)
			ew.printf("%s", wrap("ERROR: "+termsafe.String(acct.Err.Error()), width, "  ", "    ", narrow))
		} else {
			ew.printf("%s", wrap(fmt.Sprintf("Account %s: %s, source: %s", title, plural.Count(acct.Users, "user"), describeSource(acct.Source, opts.Now)), width, "", "  ", narrow))
		}
		for _, warning := range acct.Warnings {
			ew.printf("%s", wrap("warning: "+termsafe.String(warning), width, "  ", "    ", narrow))
		}
		findings := append([]setupkeys.Finding(nil), acct.Findings...)
		sortFindings(findings)
		if len(findings) == 0 {
			if acct.Err == nil {
				ew.printf("  No access keys created at setup and left unused.\n")
			}
			continue
		}
		if narrow {
			if err := narrowRows(ew, findings, opts); err != nil {
				return err
			}
			continue
		}
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  STATUS\tUSER\tSLOT\tACCESS KEY\tUSER CREATED\tKEY CREATED\tGAP\tLAST USED\tREASON")
		for _, f := range findings {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(string(f.Status)), termsafe.String(f.User), f.KeySlot, termsafe.String(keyIDCell(f, opts.ShowKeyIDs)),
				f.UserCreated.Format(tableTime), f.KeyCreated.Format(tableTime), gapCell(f.GapSeconds), termsafe.String(lastUsedCell(f)), termsafe.String(reasonCell(f)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	s := doc.Summary
	ew.printf("\nSummary: %d fail, %d review, %d pass", s.Fail, s.Review, s.Pass)
	if s.Pending > 0 {
		ew.printf(", %d pending", s.Pending)
	}
	if s.Suppressed > 0 {
		ew.printf(", %d suppressed", s.Suppressed)
	}
	ew.printf(" (window %s", a.Window)
	if len(a.Accounts) > 1 {
		ew.printf(", %s", plural.Count(s.Accounts, "account"))
	}
	if s.AccountsErrored > 0 {
		ew.printf(", %d could not be audited", s.AccountsErrored)
	}
	if s.AccountsSkipped > 0 {
		ew.printf(", %d skipped", s.AccountsSkipped)
	}
	ew.printf(")\n")
	if len(doc.SkippedAccounts) > 0 {
		ew.printf("%s skipped (not audited):\n", plural.Count(len(doc.SkippedAccounts), "account"))
		for _, sk := range doc.SkippedAccounts {
			ew.printf("%s", wrap(accountLabel(sk.AccountID, sk.Name)+": "+termsafe.String(SkipReasonText(sk.Reason)), width, "  ", "    ", narrow))
		}
	}
	if n := s.Review + s.Pending; opts.Strict && n > 0 {
		ew.printf("--strict: the %d review %s, so the run fails (exit 3).\n", n, plural.Choose(n, "finding counts as a failure", "findings count as failures"))
	}
	if s.Pass > 0 && !hasPassing(doc.Findings) {
		ew.printf("Passing keys are counted, not listed; --all lists them.\n")
	}
	return ew.err
}

// narrowRows writes the findings with the columns that fit a terminal, each followed by its
// reason on its own indented line, wrapped to the width. The rows are aligned together first,
// then the reasons are put between them (a line without tabs would end tabwriter's columns).
func narrowRows(w io.Writer, findings []setupkeys.Finding, opts Options) error {
	lines, err := narrowColumns(findings, opts, true)
	if err != nil {
		return err
	}
	// A long user name (IAM allows 64 characters) can still make the rows too wide: the name
	// then leaves the columns for a line of its own under its key, never cut.
	userLines := opts.Width > 0 && maxLineWidth(strings.Join(lines, "\n")) > opts.Width
	if userLines {
		if lines, err = narrowColumns(findings, opts, false); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for i, f := range findings {
		b.WriteString(lines[i+1] + "\n")
		if userLines {
			b.WriteString(wrap("user "+termsafe.String(f.User), opts.Width, "      ", "      ", true))
		}
		b.WriteString(wrap(termsafe.String(reasonCell(f)), opts.Width, "      ", "      ", true))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// narrowColumns lays out the narrow table's header and one row per finding, with or without the
// USER column.
func narrowColumns(findings []setupkeys.Finding, opts Options, withUser bool) ([]string, error) {
	var rows bytes.Buffer
	tw := tabwriter.NewWriter(&rows, 0, 0, 2, ' ', 0)
	user := func(s string) string {
		if withUser {
			return s + "\t"
		}
		return ""
	}
	fmt.Fprintln(tw, "  STATUS\t"+user("USER")+"SLOT\tACCESS KEY\tGAP\tLAST USED")
	for _, f := range findings {
		fmt.Fprintf(tw, "  %s\t%s%d\t%s\t%s\t%s\n", strings.ToUpper(string(f.Status)), user(termsafe.String(f.User)), f.KeySlot,
			termsafe.String(keyIDCell(f, opts.ShowKeyIDs)), gapCell(f.GapSeconds), termsafe.String(lastUsedCell(f)))
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(rows.String(), "\n"), "\n"), nil
}

// SkipReasonText says a skipped account's reason for people: what the state means for the run,
// or which flag excluded it.
func SkipReasonText(reason string) string {
	switch reason {
	case setupkeys.SkipExcluded:
		return "excluded (--exclude-accounts)"
	case setupkeys.SkipSuspended, setupkeys.SkipPendingClosure, setupkeys.SkipClosed, setupkeys.SkipPendingActivation:
		return reason + " (only ACTIVE accounts are audited)"
	}
	return reason
}

// wrap returns text as lines of at most width columns (when narrow and width > 0; else one
// line), the first prefixed with first and the others with rest, broken at spaces. A word longer
// than a line stays whole.
func wrap(text string, width int, first, rest string, narrow bool) string {
	if !narrow || width <= 0 || utf8.RuneCountInString(first+text) <= width {
		return first + text + "\n"
	}
	var b strings.Builder
	prefix, line := first, ""
	for _, word := range strings.Fields(text) {
		if line != "" && utf8.RuneCountInString(prefix+line+" "+word) > width {
			b.WriteString(prefix + line + "\n")
			prefix, line = rest, ""
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	b.WriteString(prefix + line + "\n")
	return b.String()
}

func maxLineWidth(s string) int {
	widest := 0
	for _, line := range strings.Split(s, "\n") {
		widest = max(widest, utf8.RuneCountInString(line))
	}
	return widest
}

const tableTime = "2006-01-02 15:04:05"

// accountLabel names an account for people, escaped: "123456789012 (prod)".
func accountLabel(id, name string) string {
	if id == "" {
		id = "(unknown account)"
	}
	if name != "" {
		return termsafe.String(id + " (" + name + ")")
	}
	return termsafe.String(id)
}

func describeSource(src setupkeys.Source, now time.Time) string {
	switch src.Kind {
	case setupkeys.SourceReportFile:
		s := "report file " + termsafe.String(src.File)
		if src.GeneratedTime != nil {
			s += ", generated " + src.GeneratedTime.UTC().Format(time.RFC3339)
		}
		return s
	case setupkeys.SourceLiveReport:
		if src.GeneratedTime == nil {
			return "live credential report"
		}
		age := setupkeys.FormatGap(now.Sub(*src.GeneratedTime).Truncate(time.Minute))
		return fmt.Sprintf("live credential report generated %s (%s old; IAM reuses a report for up to 4h, --exact reads the API now)",
			src.GeneratedTime.UTC().Format(time.RFC3339), age)
	case setupkeys.SourceLiveAPI:
		return "live IAM API (--exact)"
	case setupkeys.SourceCloudTrail:
		if src.File != "" {
			return "CloudTrail events from " + termsafe.String(src.File)
		}
		return "CloudTrail events"
	}
	return string(src.Kind)
}

func keyIDCell(f setupkeys.Finding, show bool) string {
	if f.AccessKeyID == nil {
		return "-"
	}
	if show {
		return *f.AccessKeyID
	}
	return setupkeys.MaskKeyID(*f.AccessKeyID)
}

func gapCell(seconds int64) string {
	return setupkeys.FormatGap(time.Duration(seconds) * time.Second)
}

func lastUsedCell(f setupkeys.Finding) string {
	if f.LastUsed == nil {
		return "never (N/A)"
	}
	s := f.LastUsed.Format("2006-01-02")
	if f.LastUsedService != "" {
		s += " " + f.LastUsedService
	}
	if f.LastUsedRegion != "" {
		s += " " + f.LastUsedRegion
	}
	return s
}

func reasonCell(f setupkeys.Finding) string {
	if f.Suppression != nil {
		s := "suppressed: " + f.Suppression.Reason
		if f.Suppression.Expires != nil {
			s += " (until " + f.Suppression.Expires.Format("2006-01-02") + ")"
		}
		return s + "; " + f.Reason
	}
	return f.Reason
}

func hasPassing(findings []setupkeys.Finding) bool {
	for _, f := range findings {
		if f.Status == setupkeys.StatusPass {
			return true
		}
	}
	return false
}

// statusOrder puts what needs action first.
var statusOrder = map[setupkeys.Status]int{setupkeys.StatusFail: 0, setupkeys.StatusReview: 1, setupkeys.StatusPending: 1, setupkeys.StatusSuppressed: 2, setupkeys.StatusPass: 3}

func sortFindings(fs []setupkeys.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if statusOrder[a.Status] != statusOrder[b.Status] {
			return statusOrder[a.Status] < statusOrder[b.Status]
		}
		if a.User != b.User {
			return a.User < b.User
		}
		return a.KeySlot < b.KeySlot
	})
}

// errWriter keeps the first write error so the table code reads straight.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
