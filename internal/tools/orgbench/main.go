// Command orgbench measures an organization audit (`setupkeys audit --org`) at scale against
// the in-repo fake of IAM, STS and Organizations (internal/testenv/fakeaws), which speaks the
// real wire protocols with injected latency and throttling:
//
//	go run ./internal/tools/orgbench -accounts 1000 -users 100 -latency 100ms -throttle 0.05
//	go run ./internal/tools/orgbench -accounts 1000 -users 100 -latency 100ms -throttle 0.05 -exact
//
// The fake runs in a child process (the same binary with -serve) so that the peak memory
// reported is the auditor's alone. The audit is the CLI's own: internal/pipeline with the SDK's
// clients the CLI makes (cli.NewSDKSession), selecting the whole organization, auditing the management account with
// the caller's credentials and every member through OrganizationAccountAccessRole, each account
// by its credential report (or the API with -exact), with the retryer of internal/awsconfig.
//
// It prints a markdown table: wall time, API calls (total, per account, against the report
// path's minimum), throttled calls, accounts ok and in error, findings checked against what the
// generated users must give, and peak memory. It exits 1 when an account is lost or a finding
// is wrong.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/term"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/cli"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/source"
	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
)

type options struct {
	accounts       int
	users          int
	latency        time.Duration
	throttle       float64
	concurrency    int
	perAccount     int
	exact          bool
	readyAfter     int
	seed           int64
	retryMode      string
	maxIdlePerHost int
	timeout        time.Duration
	inProcess      bool
	quiet          bool
	header         bool
	serve          bool
	cpuProfile     string
	memProfile     string
	accountRate    float64
}

func main() {
	var o options
	flag.IntVar(&o.accounts, "accounts", 1000, "accounts in the organization, the management account included")
	flag.IntVar(&o.users, "users", 100, "IAM users per account")
	flag.DurationVar(&o.latency, "latency", 100*time.Millisecond, "latency the fake adds to every call")
	flag.Float64Var(&o.throttle, "throttle", 0.05, "fraction of calls the fake throttles")
	flag.IntVar(&o.concurrency, "concurrency", org.DefaultConcurrency, "accounts audited at once (--concurrency)")
	flag.IntVar(&o.perAccount, "per-account", 0, "calls at once within one account (source.LiveOptions.Concurrency; 0: its default)")
	flag.BoolVar(&o.exact, "exact", false, "audit through the API alone (source.LiveExact) instead of the credential report")
	flag.IntVar(&o.readyAfter, "report-ready-after", 1, "credential-report calls before the fake's report is ready (AWS answers STARTED first)")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the generated users and of the throttling")
	flag.StringVar(&o.retryMode, "retry", "cli", "retryer: cli (internal/awsconfig's), adaptive (the SDK's adaptive mode with the same options)")
	flag.IntVar(&o.maxIdlePerHost, "max-idle-per-host", 0, "keep-alive connections of the one HTTP client all accounts share (org.ShareHTTPClient; 0: its default; -1: no shared client, one per SDK client as the SDK does by default)")
	flag.DurationVar(&o.timeout, "per-account-timeout", 0, "deadline of one account (0: org.DefaultPerAccountTimeout)")
	flag.BoolVar(&o.inProcess, "in-process", false, "run the fake in this process (peak memory then includes it)")
	flag.BoolVar(&o.quiet, "quiet", false, "no progress line")
	flag.BoolVar(&o.header, "header", true, "print the table header")
	flag.Float64Var(&o.accountRate, "account-rate", 0, "throttle each account's IAM and STS calls beyond this many a second (a token bucket, as AWS limits rates per account; 0: none)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the auditor's CPU profile to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write the auditor's heap profile, taken when half the accounts are done, to this file")
	flag.BoolVar(&o.serve, "serve", false, "internal: serve the fake on loopback, print its URL, exit when stdin closes")
	flag.Parse()
	if o.accounts < 1 || o.users < 0 {
		fmt.Fprintln(os.Stderr, "orgbench: -accounts must be at least 1 and -users at least 0")
		os.Exit(2)
	}
	if o.serve {
		if err := serve(o); err != nil {
			fmt.Fprintln(os.Stderr, "orgbench -serve:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orgbench:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// Generated users are made before this time, so every run sees the same verdicts.
var genNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// statsPath serves the fake's counters and the expected findings as JSON, next to the fake.
const statsPath = "/__orgbench/stats"

// stats is what the fake's side knows: calls and injected faults by account and action, and the
// findings the generated users must give ("user/keyID" -> status) by account.
type stats struct {
	Management string                       `json:"management"`
	Calls      map[string]map[string]int    `json:"calls"`
	Faults     map[string]map[string]int    `json:"faults"`
	Expect     map[string]map[string]string `json:"expect"`
	Flagged    map[string]int               `json:"flagged"` // users with a fail or review key
	// ExactCalls is the fewest IAM calls LiveExact's algorithm can make in the account.
	ExactCalls map[string]int `json:"exact_calls"`
}

// exactCalls is the fewest IAM calls an API-only audit makes for users: ListUsers by pages of
// 100; per user one ListAccessKeys; GetLoginProfile when the user has an active key;
// GetAccessKeyLastUsed for each active key of a console user made within the setup window.
func exactCalls(users []fakeaws.Generated) int {
	n := (len(users) + 99) / 100
	if n == 0 {
		n = 1
	}
	for _, g := range users {
		n++
		active := 0
		atSetup := 0
		for _, k := range g.User.Keys {
			if k.Status != "" && k.Status != "Active" {
				continue
			}
			active++
			if !k.Created.Before(g.User.Created.Add(-time.Second)) && !k.Created.After(g.User.Created.Add(10*time.Minute)) {
				atSetup++
			}
		}
		if active > 0 {
			n++
			if g.User.Console != nil {
				n += atSetup
			}
		}
	}
	return n
}

// newFake makes the fake and its organization: the management account and accounts-1 members,
// each with o.users generated users.
func newFake(o options) (*fakeaws.Server, func() stats) {
	srv := fakeaws.NewUnstarted(fakeaws.Options{
		Seed:             o.seed,
		Latency:          o.latency,
		ThrottleRate:     o.throttle,
		ReportReadyAfter: o.readyAfter,
	})
	if o.accountRate > 0 {
		srv.SetErrorHook(newRateLimit(o.accountRate).hook)
	}
	mgmt := srv.ManagementAccount()
	seeded := []fakeaws.SeededAccount{{
		ID:    mgmt,
		Name:  "management",
		Users: srv.SeedUsers(mgmt, fakeaws.GenerateOptions{Seed: o.seed - 1, N: o.users, Now: genNow}),
	}}
	seeded = append(seeded, srv.SeedOrganization(fakeaws.OrgSpec{Accounts: o.accounts - 1, UsersPerAccount: o.users, Seed: o.seed, Now: genNow})...)
	expect := map[string]map[string]string{}
	flagged := map[string]int{}
	exact := map[string]int{}
	for _, a := range seeded {
		exact[a.ID] = exactCalls(a.Users)
		m := map[string]string{}
		for _, g := range a.Users {
			k, st, ok := g.Flagged()
			if !ok {
				continue
			}
			m[g.User.Name+"/"+k.ID] = string(st)
			flagged[a.ID]++
		}
		expect[a.ID] = m
	}
	return srv, func() stats {
		s := stats{Management: mgmt, Calls: map[string]map[string]int{}, Faults: map[string]map[string]int{}, Expect: expect, Flagged: flagged, ExactCalls: exact}
		for _, id := range append(srv.Accounts(), "") {
			s.Calls[id] = srv.Calls(id)
			s.Faults[id] = srv.Faults(id)
		}
		return s
	}
}

// rateLimit throttles each account's calls beyond a rate: a token bucket per account holding
// at most one second of calls.
type rateLimit struct {
	rate    float64
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimit(rate float64) *rateLimit {
	return &rateLimit{rate: rate, buckets: map[string]*bucket{}}
}

// orgActions are the selection's calls, which the rate limit leaves alone.
var orgActions = map[string]bool{"ListAccounts": true, "ListAccountsForParent": true, "ListOrganizationalUnitsForParent": true, "ListRoots": true, "DescribeOrganization": true}

func (l *rateLimit) hook(action, account string) string {
	if account == "" || orgActions[action] {
		return ""
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[account]
	if b == nil {
		b = &bucket{tokens: l.rate, last: now}
		l.buckets[account] = b
	}
	b.tokens = min(l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return ""
	}
	return "Throttling"
}

// serve is the child process: the fake on a loopback port, its URL on stdout, until stdin
// closes.
func serve(o options) error {
	srv, snapshot := newFake(o)
	mux := http.NewServeMux()
	mux.HandleFunc(statsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(snapshot())
	})
	mux.Handle("/", srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go hs.Serve(ln)
	fmt.Printf("http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin) // until the parent closes it or dies
	srv.Close()
	return hs.Close()
}

// startFake starts the fake: a child process unless o.inProcess. It returns the endpoint and a
// stop function.
func startFake(o options) (string, func(), error) {
	if o.inProcess {
		srv, snapshot := newFake(o)
		mux := http.NewServeMux()
		mux.HandleFunc(statsPath, func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(snapshot())
		})
		mux.Handle("/", srv)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
		go hs.Serve(ln)
		return "http://" + ln.Addr().String(), func() { srv.Close(); hs.Close() }, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve",
		fmt.Sprint("-accounts=", o.accounts), fmt.Sprint("-users=", o.users),
		fmt.Sprint("-latency=", o.latency), fmt.Sprint("-throttle=", o.throttle),
		fmt.Sprint("-report-ready-after=", o.readyAfter), fmt.Sprint("-seed=", o.seed),
		fmt.Sprint("-account-rate=", o.accountRate))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, fmt.Errorf("the fake did not start: %w", err)
	}
	return strings.TrimSpace(line), func() { stdin.Close(); cmd.Wait() }, nil
}

func fetchStats(url string) (stats, error) {
	var s stats
	resp, err := http.Get(url + statsPath)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// peakMemory samples the live heap while the audit runs.
type peakMemory struct {
	heap atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchMemory() *peakMemory {
	p := &peakMemory{stop: make(chan struct{}), done: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(p.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > p.heap.Load() {
				p.heap.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakMemory) Stop() uint64 {
	close(p.stop)
	<-p.done
	return p.heap.Load()
}

func maxRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return uint64(ru.Maxrss) * 1024 // kilobytes on Linux
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func newRetryer(mode string) (func() aws.Retryer, error) {
	switch mode {
	case "cli":
		return awsconfig.NewRetryer, nil
	case "adaptive":
		return func() aws.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(o *retry.StandardOptions) {
					o.MaxAttempts = awsconfig.MaxAttempts
					o.MaxBackoff = awsconfig.MaxBackoff
					o.RateLimiter = ratelimit.None
				})
			})
		}, nil
	}
	return nil, fmt.Errorf("-retry %q: want cli or adaptive", mode)
}

func run(ctx context.Context, o options) (bool, error) {
	retryer, err := newRetryer(o.retryMode)
	if err != nil {
		return false, err
	}
	url, stopFake, err := startFake(o)
	if err != nil {
		return false, err
	}
	defer stopFake()

	mgmt := fakeaws.DefaultManagementAccount
	base := aws.Config{
		Region:       fakeaws.Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(fakeaws.AccessKeyFor(mgmt), "orgbench-secret", ""),
		Retryer:      retryer,
	}
	if o.maxIdlePerHost >= 0 {
		base = org.ShareHTTPClient(base, o.maxIdlePerHost)
	}
	cfg := pipeline.Config{
		Exact: o.exact,
		Live:  source.LiveOptions{Concurrency: o.perAccount},
		Accounts: &pipeline.Accounts{
			Organization:      true,
			Concurrency:       o.concurrency,
			PerAccountTimeout: o.timeout,
		},
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return false, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return false, err
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	mem := watchMemory()
	start := time.Now()
	bench := &benchProgress{Progress: cli.NewProgress(os.Stderr, term.IsTerminal(int(os.Stderr.Fd())), o.quiet), start: start, memProfile: o.memProfile}
	cfg.Accounts.Progress = bench
	audit, runErr := pipeline.Run(ctx, cfg, cli.NewSDKSession(base, mgmt, "").AuditClients(org.RoleOptions{}))
	wall := time.Since(start)
	heap := mem.Stop()
	rss := maxRSS()
	if runErr != nil {
		return false, runErr
	}
	selected := bench.selected
	results := audit.Accounts
	accts := make([]org.Account, len(results))
	findings, errored := 0, 0
	for i, r := range results {
		accts[i] = org.Account{ID: r.AccountID, Name: r.AccountName}
		findings += len(r.Findings)
		if r.Err != nil {
			errored++
		}
	}

	st, err := fetchStats(url)
	if err != nil {
		return false, fmt.Errorf("reading the fake's counters: %w", err)
	}
	good := check(st, accts, results)

	// Calls by account (the fake counts AssumeRole under its target, Organizations under the
	// management account); the report path's minimum per account.
	totalCalls, totalFaults, excess := 0, 0, 0
	perAccount := make([]int, 0, len(accts))
	byAction := map[string]int{}
	for _, a := range accts {
		n, f := 0, 0
		for action, c := range st.Calls[a.ID] {
			if strings.HasPrefix(action, "List") && (action == "ListAccounts" || action == "ListRoots" ||
				action == "ListAccountsForParent" || action == "ListOrganizationalUnitsForParent") {
				continue // the selection's, not the account's
			}
			n += c
			byAction[action] += c
		}
		for action, c := range st.Faults[a.ID] {
			if action != "ListAccounts" {
				f += c
			}
		}
		totalCalls += n
		totalFaults += f
		perAccount = append(perAccount, n)
		excess += n - f - minimum(o, st, a.ID)
	}
	orgCalls := st.Calls[st.Management]["ListAccounts"]
	sort.Ints(perAccount)
	mode := "report"
	if o.exact {
		mode = "exact"
	}
	avgMin := 0.0
	for _, a := range accts {
		avgMin += float64(minimum(o, st, a.ID))
	}
	avgMin /= float64(len(accts))

	if o.header {
		fmt.Println("| mode | accounts × users | latency | throttled | rate/account | concurrency | retryer | wall | select | API calls | calls/account avg (min–max) | minimum/account | calls over minimum (excl. throttled) | throttled calls | accounts ok / error | findings | peak heap | peak RSS |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	}
	rate := "none"
	if o.accountRate > 0 {
		rate = fmt.Sprintf("%g/s", o.accountRate)
	}
	fmt.Printf("| %s | %d × %d | %s | %.0f%% | %s | %d | %s | %.1f s | %.1f s | %d (+%d ListAccounts) | %.1f (%d–%d) | %.1f | %d | %d | %d / %d | %d | %.1f MiB | %.1f MiB |\n",
		mode, o.accounts, o.users, o.latency, o.throttle*100, rate, o.concurrency, o.retryMode,
		wall.Seconds(), selected.Seconds(), totalCalls, orgCalls,
		float64(totalCalls)/float64(len(accts)), perAccount[0], perAccount[len(perAccount)-1],
		avgMin, excess, totalFaults, len(accts)-errored, errored, findings,
		float64(heap)/(1<<20), float64(rss)/(1<<20))
	actions := make([]string, 0, len(byAction))
	for a := range byAction {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = fmt.Sprintf("%s %.2f", a, float64(byAction[a])/float64(len(accts)))
	}
	fmt.Fprintf(os.Stderr, "calls per account by action: %s\n", strings.Join(parts, ", "))
	return good, nil
}

// benchProgress is the run's progress line, and the clock of the selection (the pipeline starts
// the progress once the accounts are selected) and of the heap profile taken half-way.
type benchProgress struct {
	org.Progress
	start      time.Time
	selected   time.Duration
	total      int
	done       int
	memProfile string
}

func (p *benchProgress) Start(total int) {
	p.selected = time.Since(p.start)
	p.total = total
	p.Progress.Start(total)
}

func (p *benchProgress) AccountDone(r setupkeys.AccountResult) {
	p.Progress.AccountDone(r)
	if p.done++; p.memProfile != "" && p.done == p.total/2 {
		if err := writeHeapProfile(p.memProfile); err != nil {
			fmt.Fprintln(os.Stderr, "orgbench:", err)
		}
	}
}

// minimum is the fewest calls the audit of account id can make: for the report path, AssumeRole
// (members only), GenerateCredentialReport twice (AWS answers STARTED, then COMPLETE) or once
// more per extra -report-ready-after, GetCredentialReport once, then per flagged user one
// ListAccessKeys and one GetAccessKeyLastUsed. For -exact, AssumeRole and exactCalls.
func minimum(o options, st stats, id string) int {
	// Per flagged user (one flagged key each here): ListAccessKeys, GetLoginProfile (the console
	// password is re-checked) and GetAccessKeyLastUsed.
	n := 2 + max(o.readyAfter, 1) - 1 + 1 + 3*st.Flagged[id]
	if o.exact {
		n = st.ExactCalls[id]
	}
	if id != st.Management {
		n++
	}
	return n
}

// check compares the results with what the generated users must give. Every account must have
// exactly one result, without error, with exactly the expected findings.
func check(st stats, accts []org.Account, results []setupkeys.AccountResult) bool {
	good := true
	complain := func(format string, args ...any) {
		good = false
		fmt.Fprintf(os.Stderr, "orgbench: "+format+"\n", args...)
	}
	if len(accts) != len(st.Expect) {
		complain("selected %d accounts, the organization has %d", len(accts), len(st.Expect))
	}
	seen := map[string]bool{}
	errs := 0
	for _, r := range results {
		if seen[r.AccountID] {
			complain("account %s has two results", r.AccountID)
		}
		seen[r.AccountID] = true
		if r.Err != nil {
			if errs++; errs <= 10 {
				complain("account %s: %v", r.AccountID, r.Err)
			}
			continue
		}
		want := st.Expect[r.AccountID]
		got := map[string]string{}
		for _, f := range r.Findings {
			if f.AccountID != r.AccountID || f.AccountName == "" {
				complain("account %s: a finding filed under %s %q", r.AccountID, f.AccountID, f.AccountName)
			}
			got[f.User+"/"+aws.ToString(f.AccessKeyID)] = string(f.Status)
		}
		if len(got) != len(want) {
			complain("account %s: %d findings, want %d", r.AccountID, len(got), len(want))
			continue
		}
		for k, v := range want {
			if got[k] != v {
				complain("account %s: %s is %q, want %q", r.AccountID, k, got[k], v)
			}
		}
	}
	if errs > 10 {
		complain("... and %d more accounts in error", errs-10)
	}
	for _, a := range accts {
		if !seen[a.ID] {
			complain("account %s has no result", a.ID)
		}
	}
	if !good {
		fmt.Fprintln(os.Stderr, errors.New("orgbench: results are wrong or incomplete"))
	}
	return good
}
