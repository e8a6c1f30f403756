package report

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// The page is one self-contained file: its CSS and JS are inlined from these files and its charts
// are SVG drawn here, so it opens offline, from a mail attachment or a CI artifact, and loads
// nothing from anywhere.
//
//go:embed html/report.html.tmpl html/report.css html/report.js
var htmlFiles embed.FS

var (
	htmlCSS  = mustReadHTMLFile("html/report.css")
	htmlJS   = mustReadHTMLFile("html/report.js")
	htmlPage = template.Must(template.ParseFS(htmlFiles, "html/report.html.tmpl"))
	// htmlCSP allows exactly the inlined style and script (by hash) and nothing else: no
	// network, no images, no forms, no frames. A value that slipped past escaping still could
	// not run or fetch anything.
	htmlCSP = "default-src 'none'; style-src '" + cspHash(htmlCSS) + "'; script-src '" + cspHash(htmlJS) +
		"'; img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)

func mustReadHTMLFile(name string) string {
	b, err := htmlFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// HTML writes the audit as one HTML page for people: summary counts, where the data came from and
// how old it is, a chart of findings per account and one of key age, and a table of every finding
// with its evidence that sorts and filters in the browser and prints. Key IDs are masked unless
// opts.ShowKeyIDs. Every value from the data goes through html/template's contextual escaping.
func HTML(w io.Writer, a setupkeys.Audit, opts Options) error {
	return htmlPage.Execute(w, newHTMLView(a, opts))
}

// htmlView is what the template shows; everything is decided here, the template only lays out.
type htmlView struct {
	CSP      string
	CSS      template.CSS
	JS       template.JS
	Title    string
	Now      string
	Window   string
	Summary  Summary
	Age      htmlAge
	Accounts []htmlAccount
	Warnings []string
	// Skipped are the accounts the selection skipped, each "ID (name): why".
	Skipped    []string
	Charts     []htmlChart
	Findings   []htmlFinding
	ShowKeyIDs bool
	// MultiAccount adds an account column to the findings; one account is named above them.
	MultiAccount bool
	Columns      int
	// PassCounted is set when passing keys were counted but not listed (no --all).
	PassCounted bool
}

type htmlAge struct {
	Value, Detail string
	// Stale is set for a report older than IAM's 4 hours reuse: worth a second look.
	Stale bool
}

type htmlAccount struct {
	Label, Status, Error, Source                   string
	Users, Fail, Review, Pending, Pass, Suppressed int
}

type htmlFinding struct {
	ID, Account, User, ARN, KeyID, Reason, Suppression string
	Status                                             string
	StatusOrder, Slot                                  int
	UserCreated, KeyCreated, LastUsed                  htmlTime
	Gap                                                string
	GapSeconds                                         int64
	ReportLine                                         int
}

// htmlTime is a time as shown and as sorted (RFC 3339, "" when there is none).
type htmlTime struct{ Text, Sort string }

const htmlTimeLayout = "2006-01-02 15:04:05"

func newHTMLView(a setupkeys.Audit, opts Options) htmlView {
	doc := NewDocument(a, opts.Now)
	s := doc.Summary
	v := htmlView{
		CSP:          htmlCSP,
		CSS:          template.CSS(htmlCSS),
		JS:           template.JS(htmlJS),
		Title:        fmt.Sprintf("setupkeys audit: %d fail, %d review", s.Fail, s.Review),
		Now:          opts.Now.UTC().Format(time.RFC3339),
		Window:       a.Window.String(),
		Summary:      s,
		Age:          reportAge(a, opts.Now),
		Warnings:     make([]string, len(doc.Warnings)),
		ShowKeyIDs:   opts.ShowKeyIDs,
		MultiAccount: len(a.Accounts) > 1,
		Columns:      12,
		PassCounted:  s.Pass > 0 && !hasPassing(doc.Findings),
	}
	if v.MultiAccount {
		v.Columns++
	}
	// html/template makes every value text; termsafe also shows what text would hide or disguise
	// (control characters, bidirectional overrides, zero-width runes), as the table does.
	for i, w := range doc.Warnings {
		v.Warnings[i] = termsafe.String(w)
	}
	for _, sk := range doc.SkippedAccounts {
		v.Skipped = append(v.Skipped, accountLabel(sk.AccountID, sk.Name)+": "+SkipReasonText(sk.Reason))
	}
	for i, acct := range doc.Accounts {
		v.Accounts = append(v.Accounts, htmlAccount{Label: accountLabel(acct.AccountID, acct.AccountName), Status: acct.Status, Error: termsafe.String(acct.Error),
			Source: describeSource(a.Accounts[i].Source, opts.Now), Users: acct.Users, Fail: acct.Fail, Review: acct.Review, Pending: acct.Pending, Pass: acct.Pass, Suppressed: acct.Suppressed})
	}
	for _, f := range doc.Findings {
		v.Findings = append(v.Findings, htmlFinding{ID: termsafe.String(f.ID), Account: accountLabel(f.AccountID, f.AccountName), User: termsafe.String(f.User), ARN: termsafe.String(f.ARN),
			KeyID: termsafe.String(keyIDCell(f, opts.ShowKeyIDs)), Reason: termsafe.String(f.Reason), Suppression: termsafe.String(suppressionText(f.Suppression)), Status: string(f.Status),
			StatusOrder: statusOrder[f.Status], Slot: f.KeySlot, UserCreated: newHTMLTime(&f.UserCreated), KeyCreated: newHTMLTime(&f.KeyCreated),
			LastUsed: htmlTime{Text: termsafe.String(lastUsedCell(f)), Sort: newHTMLTime(f.LastUsed).Sort}, Gap: gapCell(f.GapSeconds), GapSeconds: f.GapSeconds,
			ReportLine: f.ReportLine})
	}
	v.Charts = []htmlChart{accountChart(doc.Accounts), keyAgeChart(doc.Findings, opts.Now, v.PassCounted)}
	return v
}

func newHTMLTime(t *time.Time) htmlTime {
	if t == nil || t.IsZero() {
		return htmlTime{}
	}
	return htmlTime{Text: t.UTC().Format(htmlTimeLayout), Sort: t.UTC().Format(time.RFC3339)}
}

func suppressionText(n *setupkeys.SuppressionNote) string {
	if n == nil {
		return ""
	}
	s := "was " + string(n.Was) + ": " + n.Reason
	if n.Expires != nil {
		s += " (until " + n.Expires.Format("2006-01-02") + ")"
	}
	return s
}

// reportAge is how old the data is: a credential report's age from its GeneratedTime (the oldest
// over several accounts), or why it is not known.
func reportAge(a setupkeys.Audit, now time.Time) htmlAge {
	var oldest *time.Time
	kinds := map[setupkeys.SourceKind]bool{}
	for _, acct := range a.Accounts {
		if g := acct.Source.GeneratedTime; g != nil {
			if oldest == nil || g.Before(*oldest) {
				oldest = g
			}
			continue
		}
		kinds[acct.Source.Kind] = true
	}
	switch {
	case oldest != nil:
		age := now.Sub(*oldest).Truncate(time.Minute)
		detail := "generated " + oldest.UTC().Format(time.RFC3339)
		if len(a.Accounts) > 1 {
			detail = "oldest report, " + detail
		}
		return htmlAge{Value: setupkeys.FormatGap(age), Detail: detail + "; IAM reuses a report for up to 4h, --exact reads the API now", Stale: age > 4*time.Hour}
	case kinds[setupkeys.SourceReportFile]:
		return htmlAge{Value: "unknown", Detail: "a CSV report carries no generation time; the JSON of 'aws iam get-credential-report' does"}
	case kinds[setupkeys.SourceLiveReport]:
		return htmlAge{Value: "unknown", Detail: "IAM gave no generation time for the report"}
	case kinds[setupkeys.SourceLiveAPI]:
		return htmlAge{Value: "live", Detail: "read from the IAM API during the run (--exact)"}
	case kinds[setupkeys.SourceCloudTrail]:
		return htmlAge{Value: "events", Detail: "judged from CloudTrail events, not a credential report"}
	}
	return htmlAge{Value: "unknown", Detail: "no source says when its data was made"}
}

// htmlChart is a horizontal stacked bar chart drawn as SVG: one bar per row, one segment per
// status.
type htmlChart struct {
	ID, Title, Caption string
	Width, Height      int
	Rows               []htmlBar
	// More counts rows left out to keep the chart readable.
	More int
}

type htmlBar struct {
	Label, FullLabel string
	Y, TextY         int
	Segments         []htmlSegment
	Total            int
	TotalX           int
}

type htmlSegment struct {
	Status  string
	X, Y, W int
	Count   int
}

const (
	chartLabelWidth = 200
	chartBarWidth   = 380
	chartRowHeight  = 26
	chartBarHeight  = 18
	chartMaxRows    = 20
	chartLabelRunes = 24
)

// chartStatuses is the order of a bar's segments: what needs action first.
var chartStatuses = []setupkeys.Status{setupkeys.StatusFail, setupkeys.StatusReview, setupkeys.StatusPending, setupkeys.StatusSuppressed, setupkeys.StatusPass}

type chartRow struct {
	label  string
	counts map[setupkeys.Status]int
}

func newChart(id, title, caption string, rows []chartRow) htmlChart {
	c := htmlChart{ID: id, Title: title, Caption: caption, Width: chartLabelWidth + chartBarWidth + 60}
	if len(rows) > chartMaxRows {
		c.More, rows = len(rows)-chartMaxRows, rows[:chartMaxRows]
	}
	largest := 0
	for _, r := range rows {
		largest = max(largest, total(r.counts))
	}
	for i, r := range rows {
		y := 4 + i*chartRowHeight
		bar := htmlBar{Label: truncateRunes(r.label, chartLabelRunes), FullLabel: r.label, Y: y, TextY: y + chartBarHeight - 5, Total: total(r.counts)}
		// Place segments by cumulative rounding so they meet without gaps and the bar's length
		// is exactly proportional to its total.
		sum, x := 0, chartLabelWidth
		for _, st := range chartStatuses {
			n := r.counts[st]
			if n == 0 {
				continue
			}
			sum += n
			end := chartLabelWidth + sum*chartBarWidth/largest
			bar.Segments = append(bar.Segments, htmlSegment{Status: string(st), X: x, Y: y, W: end - x, Count: n})
			x = end
		}
		bar.TotalX = x + 6
		c.Rows = append(c.Rows, bar)
	}
	c.Height = 8 + len(rows)*chartRowHeight
	return c
}

func total(counts map[setupkeys.Status]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// accountChart shows each account's keys by status, the accounts with most to act on first. Passing
// keys are counted whether or not they are listed.
func accountChart(accounts []AccountSummary) htmlChart {
	rows := make([]chartRow, 0, len(accounts))
	for _, a := range accounts {
		label := accountLabel(a.AccountID, a.AccountName)
		if a.Status == "error" {
			label += " (error)"
		}
		rows = append(rows, chartRow{label: label, counts: map[setupkeys.Status]int{
			setupkeys.StatusFail: a.Fail, setupkeys.StatusReview: a.Review, setupkeys.StatusPending: a.Pending, setupkeys.StatusSuppressed: a.Suppressed, setupkeys.StatusPass: a.Pass}})
	}
	sortChartRows(rows)
	caption := "Keys judged in each account, by status."
	return newChart("chart-accounts", "Findings per account", caption, rows)
}

// sortChartRows orders rows by fail, then review, pending and suppressed count, most first; ties
// keep their order (accounts by ID).
func sortChartRows(rows []chartRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		for _, st := range chartStatuses[:len(chartStatuses)-1] {
			if a, b := rows[i].counts[st], rows[j].counts[st]; a != b {
				return a > b
			}
		}
		return false
	})
}

// keyAgeBuckets are the key-age ranges of the age chart, youngest first.
var keyAgeBuckets = []struct {
	label string
	below time.Duration
}{
	{"under 90 days", 90 * 24 * time.Hour},
	{"90 days to 1 year", 365 * 24 * time.Hour},
	{"1 to 2 years", 2 * 365 * 24 * time.Hour},
	{"2 to 5 years", 5 * 365 * 24 * time.Hour},
	{"5 to 10 years", 10 * 365 * 24 * time.Hour},
	{"10 years or more", 1<<63 - 1},
}

// keyAgeChart shows how old the listed keys are (creation to now), by status: an old key created at
// setup and never used has been a standing credential for that long.
func keyAgeChart(findings []setupkeys.Finding, now time.Time, passCounted bool) htmlChart {
	rows := make([]chartRow, len(keyAgeBuckets))
	for i, b := range keyAgeBuckets {
		rows[i] = chartRow{label: b.label, counts: map[setupkeys.Status]int{}}
	}
	for _, f := range findings {
		age := now.Sub(f.KeyCreated)
		for i, b := range keyAgeBuckets {
			if age < b.below {
				rows[i].counts[f.Status]++
				break
			}
		}
	}
	caption := "Age of the listed keys at " + now.UTC().Format(time.RFC3339) + ", by status."
	if passCounted {
		caption += " Passing keys are not listed; --all lists them."
	}
	return newChart("chart-key-age", "Key age", caption, rows)
}
