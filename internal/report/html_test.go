package report

import (
	"bytes"
	"context"
	"html"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/rule"
)

const exampleReport = "../../examples/credential-report.csv"

// exampleAudit is the bundled example as `audit --report examples/credential-report.csv --all`
// sees it.
func exampleAudit(t testing.TB) setupkeys.Audit {
	t.Helper()
	f, err := os.Open(exampleReport)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	audit, err := pipeline.Run(context.Background(), pipeline.Config{Report: f, ReportName: "examples/credential-report.csv", Rule: rule.Options{Window: rule.DefaultWindow}, KeepPassing: true}, pipeline.Clients{})
	if err != nil {
		t.Fatal(err)
	}
	audit.StartedAt = time.Time{}
	return audit
}

// Hostile values: each would become markup, an attribute or a script if it were not escaped.
var hostile = struct{ user, quoteUser, titleUser, bidiUser, accountName, reason, suppression, warning, file string }{
	user:      `<script>document.title="pwned"</script>`,
	quoteUser: `"onload=document.title='pwned' x="`,
	titleUser: `</title><img src=x onerror=alert(1)>`,
	// A bidirectional override would show "adminexe.txt" reversed; ESC and a CR hide text.
	bidiUser:    "admin\u202etxt.exe\x1b[2J\r",
	accountName: `</svg><b id=pwned>prod</b>&amp;`,
	reason:      `</td></tr></tbody></table><iframe src="//example.invalid/"></iframe>`,
	suppression: `javascript:alert(1)//<style>body{display:none}</style>`,
	warning:     `<a href="https://example.invalid/">click</a>`,
	file:        `"><svg onload=alert(1)>.csv`,
}

// hostileAudit has two accounts (one failed to audit), a suppressed finding, full key IDs and the
// hostile values above in every field that comes from data.
func hostileAudit() setupkeys.Audit {
	generated := now.Add(-90 * time.Minute)
	expires := now.Add(30 * 24 * time.Hour)
	a := finding("amy", setupkeys.StatusFail, "AKIAIOSFODNN7EXAMPLE")
	b := finding(hostile.user, setupkeys.StatusFail, "AKIAI44QH8DHBEXAMPLE")
	b.KeySlot, b.GapSeconds, b.Reason = 2, 61, hostile.reason
	b.KeyCreated = now.Add(-3 * 365 * 24 * time.Hour)
	c := finding(hostile.quoteUser, setupkeys.StatusReview, "")
	c.KeyCreated = now.Add(-11 * 365 * 24 * time.Hour)
	d := finding(hostile.titleUser, setupkeys.StatusSuppressed, "AKIAZZZZZZZZZZZZZZZZ")
	d.Suppression = &setupkeys.SuppressionNote{Reason: hostile.suppression, Expires: &expires, Was: setupkeys.StatusFail}
	used := now.Add(-24 * time.Hour)
	e := finding(hostile.bidiUser, setupkeys.StatusPass, "")
	e.LastUsed, e.LastUsedService, e.LastUsedRegion, e.GapSeconds = &used, "s3", "eu-west-1", 3
	for _, f := range []*setupkeys.Finding{&a, &b, &c, &d, &e} {
		f.AccountName = hostile.accountName
	}
	return setupkeys.Audit{Window: 10 * time.Minute, Accounts: []setupkeys.AccountResult{
		{AccountID: "123456789012", AccountName: hostile.accountName, Users: 7, Passed: 1, Warnings: []string{hostile.warning},
			Source:   setupkeys.Source{Kind: setupkeys.SourceReportFile, File: hostile.file, GeneratedTime: &generated},
			Findings: []setupkeys.Finding{e, d, c, b, a}},
		{AccountID: "210987654321", Err: errorString("AssumeRole: AccessDenied <img src=x>"), Source: setupkeys.Source{Kind: setupkeys.SourceLiveReport}},
	}}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func renderHTML(t *testing.T, a setupkeys.Audit, opts Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, a, opts); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestHTMLEscapesEveryValue(t *testing.T) {
	out := renderHTML(t, hostileAudit(), Options{Now: now})
	for _, raw := range []string{hostile.user, hostile.quoteUser, hostile.titleUser, hostile.accountName, hostile.reason, hostile.suppression, hostile.warning, hostile.file,
		"<img", "<iframe", "<b id", "<a href", "<svg onload", `"onload`, "<style>body"} {
		if strings.Contains(out, raw) {
			t.Errorf("output carries %q unescaped", raw)
		}
	}
	for i, r := range out {
		if (r < 0x20 && r != '\n') || r == 0x7f || r == '\u202e' {
			t.Fatalf("raw control or format character %U at byte %d", r, i)
		}
	}
	if n := strings.Count(out, "<script"); n != 1 {
		t.Errorf("%d <script> elements, want only the page's own", n)
	}
	if n := strings.Count(out, "<style"); n != 1 {
		t.Errorf("%d <style> elements, want only the page's own", n)
	}
	for _, escaped := range []string{"&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;", "&#34;onload=document.title=&#39;pwned&#39; x=&#34;", "AssumeRole: AccessDenied &lt;img src=x&gt;", `admin\u202etxt.exe\x1b[2J\r`} {
		if !strings.Contains(out, escaped) {
			t.Errorf("output lacks the escaped form %q", escaped)
		}
	}
}

// TestHTMLSelfContained: nothing in the page names another resource; the Chromium test checks
// that no request leaves it at run time.
func TestHTMLSelfContained(t *testing.T) {
	out := renderHTML(t, exampleAudit(t), Options{Now: now})
	for _, re := range []string{`(?i)\s(src|href|action|formaction|poster|data)=`, `(?i)url\(`, `(?i)@import`, `(?i)https?://`, `(?i)<(link|img|iframe|object|embed|base)\b`} {
		if m := regexp.MustCompile(re).FindString(out); m != "" {
			t.Errorf("page refers outside itself: %q (pattern %s)", m, re)
		}
	}
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]+)">`).FindStringSubmatch(out)
	if csp == nil {
		t.Fatal("no Content-Security-Policy")
	}
	policy := html.UnescapeString(csp[1])
	if !strings.HasPrefix(policy, "default-src 'none';") {
		t.Fatalf("CSP %q does not forbid loads by default", policy)
	}
	// The CSP allows the inlined style and script by hash: they must be exactly the text in
	// the page, or the browser would refuse them.
	for _, part := range []struct{ re, code string }{{`(?s)<style>(.*?)</style>`, htmlCSS}, {`(?s)<script>(.*?)</script>`, htmlJS}} {
		m := regexp.MustCompile(part.re).FindStringSubmatch(out)
		if m == nil || m[1] != part.code || !strings.Contains(policy, cspHash(m[1])) {
			t.Errorf("inlined code does not match its CSP hash (%s)", part.re)
		}
	}
}

func TestHTMLKeyIDs(t *testing.T) {
	tests := []struct {
		name      string
		show      bool
		want, not string
	}{
		{"masked by default", false, "AKIA************MPLE", "AKIAIOSFODNN7EXAMPLE"},
		{"--show-key-ids", true, "AKIAIOSFODNN7EXAMPLE", "AKIA************MPLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := renderHTML(t, hostileAudit(), Options{Now: now, ShowKeyIDs: tt.show})
			if !strings.Contains(out, tt.want) || strings.Contains(out, tt.not) {
				t.Errorf("want %q and not %q in the page", tt.want, tt.not)
			}
		})
	}
}

func TestHTMLSummaryAndReportAge(t *testing.T) {
	at := func(d time.Duration) *time.Time { g := now.Add(-d); return &g }
	tests := []struct {
		name    string
		sources []setupkeys.Source
		want    []string
	}{
		{"live report", []setupkeys.Source{{Kind: setupkeys.SourceLiveReport, GeneratedTime: at(90 * time.Minute)}},
			[]string{`id="report-age">1h30m0s<`, "generated 2026-11-27T10:30:00Z"}},
		{"stale report", []setupkeys.Source{{Kind: setupkeys.SourceLiveReport, GeneratedTime: at(5 * time.Hour)}},
			[]string{`card neutral stale`, `id="report-age">5h0m0s<`}},
		{"oldest of several", []setupkeys.Source{{Kind: setupkeys.SourceLiveReport, GeneratedTime: at(time.Hour)}, {Kind: setupkeys.SourceLiveReport, GeneratedTime: at(3 * time.Hour)}},
			[]string{`id="report-age">3h0m0s<`, "oldest report, generated 2026-11-27T09:00:00Z"}},
		{"csv file", []setupkeys.Source{{Kind: setupkeys.SourceReportFile, File: "r.csv"}}, []string{`id="report-age">unknown<`, "report file r.csv"}},
		{"exact", []setupkeys.Source{{Kind: setupkeys.SourceLiveAPI}}, []string{`id="report-age">live<`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := setupkeys.Audit{Window: time.Minute}
			for i, src := range tt.sources {
				a.Accounts = append(a.Accounts, setupkeys.AccountResult{AccountID: "12345678901" + string(rune('0'+i)), Users: 3, Passed: 1, Source: src,
					Findings: []setupkeys.Finding{finding("a", setupkeys.StatusFail, ""), finding("b", setupkeys.StatusReview, "")}})
			}
			out := renderHTML(t, a, Options{Now: now})
			n := len(tt.sources)
			want := append(tt.want, `id="count-fail">`+strconv.Itoa(n)+`<`, `id="count-review">`+strconv.Itoa(n)+`<`, `id="count-pass">`+strconv.Itoa(n)+`<`, `id="count-users">`+strconv.Itoa(3*n)+`<`,
				"counted, not listed (--all lists them)")
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}

func TestChartGeometry(t *testing.T) {
	counts := func(fail, review, suppressed, pass int) map[setupkeys.Status]int {
		return map[setupkeys.Status]int{setupkeys.StatusFail: fail, setupkeys.StatusReview: review, setupkeys.StatusSuppressed: suppressed, setupkeys.StatusPass: pass}
	}
	rows := []chartRow{{"a", counts(1, 1, 1, 0)}, {"b", counts(3, 0, 0, 3)}, {"c", counts(0, 0, 0, 0)}}
	c := newChart("x", "t", "c", rows)
	wantEnds := []int{chartLabelWidth + 3*chartBarWidth/6, chartLabelWidth + chartBarWidth, chartLabelWidth}
	for i, bar := range c.Rows {
		x := chartLabelWidth
		for _, s := range bar.Segments {
			if s.X != x || s.W <= 0 {
				t.Errorf("row %d: segment %+v does not start where the last ended (%d)", i, s, x)
			}
			x = s.X + s.W
		}
		if x != wantEnds[i] {
			t.Errorf("row %d ends at %d, want %d", i, x, wantEnds[i])
		}
	}
	if got := c.Rows[0].Segments; len(got) != 3 || got[0].Status != "fail" || got[1].Status != "review" || got[2].Status != "suppressed" {
		t.Errorf("segments %+v, want fail, review, suppressed in that order", got)
	}

	many := make([]chartRow, chartMaxRows+5)
	for i := range many {
		many[i] = chartRow{strings.Repeat("x", 40), counts(1, 0, 0, 0)}
	}
	c = newChart("x", "t", "c", many)
	if len(c.Rows) != chartMaxRows || c.More != 5 || c.Rows[0].Label != strings.Repeat("x", chartLabelRunes-1)+"…" || c.Rows[0].FullLabel != many[0].label {
		t.Errorf("rows %d, more %d, label %q", len(c.Rows), c.More, c.Rows[0].Label)
	}
}

func TestAccountChartOrder(t *testing.T) {
	c := accountChart([]AccountSummary{{AccountID: "111111111111", Pass: 9}, {AccountID: "222222222222", Review: 5}, {AccountID: "333333333333", Fail: 1}, {AccountID: "444444444444", Status: "error"}})
	var got []string
	for _, r := range c.Rows {
		got = append(got, r.Label)
	}
	if strings.Join(got, ",") != "333333333333,222222222222,111111111111,444444444444 (error)" {
		t.Errorf("order %v: most to act on first", got)
	}
}

func TestKeyAgeChart(t *testing.T) {
	day := 24 * time.Hour
	var fs []setupkeys.Finding
	for _, age := range []time.Duration{day, 89 * day, 90 * day, 400 * day, 4 * 365 * day, 20 * 365 * day} {
		f := finding("u", setupkeys.StatusFail, "")
		f.KeyCreated = now.Add(-age)
		fs = append(fs, f)
	}
	c := keyAgeChart(fs, now, false)
	want := []int{2, 1, 1, 1, 0, 1}
	for i, r := range c.Rows {
		if r.Total != want[i] {
			t.Errorf("bucket %q holds %d, want %d", r.Label, r.Total, want[i])
		}
	}
}

// Pending (events: the logs cannot tell whether a key was used) gets its card, legend, filter
// option, account column and chart segment only when there is some.
func TestHTMLPending(t *testing.T) {
	pending := finding("pat", setupkeys.StatusPending, "")
	a := setupkeys.Audit{Window: time.Minute, Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", Users: 1,
		Source: setupkeys.Source{Kind: setupkeys.SourceCloudTrail, File: "logs/"}, Findings: []setupkeys.Finding{pending}}}}
	out := renderHTML(t, a, Options{Now: now})
	for _, want := range []string{`id="count-pending">1<`, `<option value="pending">`, `<th scope="col">Pending</th>`, `class="seg pending"`, `class="badge pending"`,
		`id="report-age">events<`, "CloudTrail events from logs/"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	out = renderHTML(t, exampleAudit(t), Options{Now: now})
	for _, not := range []string{`count-pending`, `value="pending"`, `>Pending<`, `sw pending`} {
		if strings.Contains(out, not) {
			t.Errorf("a page with nothing pending has %q", not)
		}
	}
}

// Skipped accounts are listed under the accounts, escaped.
func TestHTMLSkippedAccounts(t *testing.T) {
	a := setupkeys.Audit{Window: 10 * time.Minute, Accounts: []setupkeys.AccountResult{{AccountID: "111111111111", Source: setupkeys.Source{Kind: setupkeys.SourceLiveAPI}}},
		Skipped: []setupkeys.SkippedAccount{{AccountID: "222222222222", Name: "<b>old</b>", Reason: setupkeys.SkipSuspended}, {AccountID: "333333333333", Reason: setupkeys.SkipExcluded}}}
	out := renderHTML(t, a, Options{Now: now})
	for _, want := range []string{"2 accounts skipped (not audited):", "<li>222222222222 (&lt;b&gt;old&lt;/b&gt;): suspended (only ACTIVE accounts are audited)</li>", "<li>333333333333: excluded (--exclude-accounts)</li>"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(renderHTML(t, setupkeys.Audit{Accounts: a.Accounts}, Options{Now: now}), "skipped (not audited)") {
		t.Error("a run without skipped accounts lists some")
	}
}
