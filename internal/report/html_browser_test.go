package report

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/setupkeys/setupkeys"
)

var screenshotPath = flag.String("screenshot", "", "write a full-page PNG of the bundled example's HTML report to this `file` (docs/html-report.png)")

// browserTimeout bounds each browser test as a whole: starting Chromium, loading the page and
// every step. Nothing in them waits on the network, so a run far inside it is normal.
const browserTimeout = 90 * time.Second

// newBrowser starts headless Chromium (Debian's chromium; scripts/test.sh installs it) with a
// fresh profile and everything that would reach the network on its own switched off, so the only
// requests the page's tab makes are the page's own.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): scripts/test.sh installs Debian's chromium package", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000))
	t.Cleanup(cancelAlloc)
	return allocCtx
}

// tab is one browser tab with a record of every request it sent and every error it saw.
type tab struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	tb := &tab{}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithListener(func(ev any) {
		// Runs in the tab's event loop: record and return.
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.requests = append(tb.requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			tb.errors = append(tb.errors, ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				tb.errors = append(tb.errors, "console.error")
			}
		case *cdplog.EventEntryAdded:
			// The browser's own log: a refused load (CSP) or a failed request lands here.
			if ev.Entry.Level == cdplog.EntryLevelError {
				tb.errors = append(tb.errors, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		}
	}))
	t.Cleanup(cancel)
	tb.ctx = ctx
	return tb
}

func (tb *tab) seen() (requests, errors []string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.requests), slices.Clone(tb.errors)
}

func eval[T any](t *testing.T, tb *tab, js string) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func do(t *testing.T, tb *tab, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// writePage renders a to an HTML file and returns its file:// URL.
func writePage(t *testing.T, a setupkeys.Audit, opts Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, a, opts); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + path
}

// column reads one column of the findings table, visible rows only, in page order.
func column(t *testing.T, tb *tab, header, what string) []string {
	t.Helper()
	return eval[[]string](t, tb, `(() => {
		const col = Array.from(document.querySelectorAll("#findings thead th")).findIndex((th) => th.textContent.trim() === `+strconv.Quote(header)+`);
		if (col < 0) throw new Error("no column `+header+`");
		return Array.from(document.querySelectorAll("#findings tbody tr.finding")).filter((r) => !r.hidden).map((r) => r.cells[col].`+what+`);
	})()`)
}

func clickHeader(t *testing.T, tb *tab, header string) {
	t.Helper()
	do(t, tb, chromedp.Click(chromedp.JSPath(`Array.from(document.querySelectorAll("#findings thead th button")).find((b) => b.textContent === `+strconv.Quote(header)+`)`), chromedp.NodeVisible))
}

func TestHTMLInChromium(t *testing.T) {
	browser := newBrowser(t)

	t.Run("bundled example", func(t *testing.T) {
		tb := newTab(t, browser)
		url := writePage(t, exampleAudit(t), Options{Now: now})
		do(t, tb, chromedp.Navigate(url))

		users := column(t, tb, "User", "textContent")
		if want := []string{"alice.martin", "bob@example.com", "dave,ops", "heidi", "erin", "bob@example.com", "carol", "grace", "heidi"}; !slices.Equal(users, want) {
			t.Fatalf("rows %q, want %q (fail, review, pass as rendered)", users, want)
		}
		if got := eval[string](t, tb, `getComputedStyle(document.querySelector(".badge.fail")).backgroundColor`); got != "rgb(198, 40, 40)" {
			t.Errorf("badge colour %q: the inlined CSS did not apply (CSP hash?)", got)
		}
		if got := eval[string](t, tb, `document.getElementById("report-age").textContent`); got != "unknown" {
			t.Errorf("report age %q for a CSV file", got)
		}
		if *screenshotPath != "" {
			png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(*screenshotPath, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		clickHeader(t, tb, "User")
		sorted := slices.Sorted(slices.Values(users))
		if got := column(t, tb, "User", "textContent"); !slices.Equal(got, sorted) {
			t.Errorf("after one click on User: %q, want %q", got, sorted)
		}
		if got := eval[string](t, tb, `document.querySelector("#findings th[aria-sort]").textContent + " " + document.querySelector("#findings th[aria-sort]").getAttribute("aria-sort")`); got != "User ascending" {
			t.Errorf("aria-sort: %q", got)
		}
		clickHeader(t, tb, "User")
		slices.Reverse(sorted)
		if got := column(t, tb, "User", "textContent"); !slices.Equal(got, sorted) {
			t.Errorf("after a second click on User: %q, want %q", got, sorted)
		}

		// Gap sorts by seconds, not by its text ("-1s" < "4s" < "1m12s" < "838d1h").
		clickHeader(t, tb, "Gap")
		gaps := column(t, tb, "Gap", "textContent")
		if want := []string{"-1s", "0s", "4s", "31s", "40s", "1m12s", "1m43s", "45m0s", "838d1h"}; !slices.Equal(gaps, want) {
			t.Errorf("gaps sorted %q, want %q", gaps, want)
		}

		// Filtering: free text over every cell, and by status; the count says what is shown.
		do(t, tb, chromedp.SendKeys(chromedp.ID("filter"), "heidi"))
		if got := column(t, tb, "User", "textContent"); !slices.Equal(got, []string{"heidi", "heidi"}) {
			t.Errorf("filter heidi: %q", got)
		}
		if got := eval[string](t, tb, `document.getElementById("shown").textContent`); got != "Showing 2 of 9 findings" {
			t.Errorf("count %q", got)
		}
		do(t, tb, chromedp.SetValue(chromedp.ID("status-filter"), "fail"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("status-filter").dispatchEvent(new Event("change"))`))
		if got := column(t, tb, "Slot", "textContent"); !slices.Equal(got, []string{"1"}) {
			t.Errorf("filter heidi + fail: slots %q, want heidi's slot 1 only", got)
		}
		do(t, tb, chromedp.SendKeys(chromedp.ID("filter"), " nobody"))
		if got := column(t, tb, "User", "textContent"); len(got) != 0 || eval[bool](t, tb, `document.getElementById("nomatch").hidden`) {
			t.Errorf("no match: rows %q, and the no-match row should show", got)
		}
		do(t, tb, chromedp.SetValue(chromedp.ID("filter"), "erin"), chromedp.SetValue(chromedp.ID("status-filter"), ""),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("filter").dispatchEvent(new Event("input"))`))
		if got := column(t, tb, "User", "textContent"); !slices.Equal(got, []string{"erin"}) {
			t.Errorf("filter erin: %q", got)
		}

		// Printed: the controls go, the filter in force is said in words, the rows stay.
		if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, tb, `getComputedStyle(document.getElementById("controls")).display + "|" + getComputedStyle(document.getElementById("print-note")).display + "|" + document.getElementById("print-note").textContent`); got != "none|block|Filtered by “erin”: 1 of 9 findings shown." {
			t.Errorf("print media: %q", got)
		}
		pdf, err := chromedp.Run(tb.ctx, chromedp.PrintToPDF())
		if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Errorf("print to PDF: %v (%d bytes)", err, len(pdf))
		}

		requests, errs := tb.seen()
		if !slices.Equal(requests, []string{url}) {
			t.Errorf("requests %q: want the page's file and nothing else", requests)
		}
		if len(errs) > 0 {
			t.Errorf("page errors: %q", errs)
		}
	})

	t.Run("hostile values stay text", func(t *testing.T) {
		tb := newTab(t, browser)
		url := writePage(t, hostileAudit(), Options{Now: now})
		do(t, tb, chromedp.Navigate(url))
		users := column(t, tb, "User", "textContent")
		for _, want := range []string{hostile.user, hostile.quoteUser, hostile.titleUser, `admin\u202etxt.exe\x1b[2J\r`} {
			if !slices.Contains(users, want) {
				t.Errorf("user %q not shown as text; users %q", want, users)
			}
		}
		if got := column(t, tb, "Suppression", "textContent"); !slices.Contains(got, "was fail: "+hostile.suppression+" (until 2026-12-27)") {
			t.Errorf("suppression cells %q", got)
		}
		if got := eval[string](t, tb, `[document.title, document.scripts.length, document.querySelectorAll("img, iframe, a, b, style").length, document.querySelectorAll("[onload], [onerror]").length].join("|")`); got != "setupkeys audit: 2 fail, 1 review|1|1|0" {
			t.Errorf("title|scripts|foreign elements (the page's own style is 1)|handlers = %q", got)
		}
		if got := eval[string](t, tb, `document.querySelector("#chart-accounts svg title").textContent`); !strings.Contains(got, hostile.accountName) {
			t.Errorf("chart tooltip %q lacks the account name as text", got)
		}
		requests, errs := tb.seen()
		if !slices.Equal(requests, []string{url}) {
			t.Errorf("requests %q: want the page's file and nothing else", requests)
		}
		if len(errs) > 0 {
			t.Errorf("page errors: %q", errs)
		}
	})

	// The request check must be able to fail: a page that loads an image from a local server is
	// seen doing so.
	t.Run("a page that fetches is caught", func(t *testing.T) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer srv.Close()
		path := filepath.Join(t.TempDir(), "fetches.html")
		if err := os.WriteFile(path, []byte(`<!DOCTYPE html><title>x</title><img src="`+srv.URL+`/pixel.png">`), 0o644); err != nil {
			t.Fatal(err)
		}
		tb := newTab(t, browser)
		do(t, tb, chromedp.Navigate("file://"+path))
		requests, _ := tb.seen()
		if !slices.Contains(requests, srv.URL+"/pixel.png") || hits.Load() == 0 {
			t.Errorf("requests %q, server hits %d: the image load went unseen", requests, hits.Load())
		}
	})
}
