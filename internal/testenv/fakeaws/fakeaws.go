// Package fakeaws is a small in-process fake of AWS IAM, STS and Organizations that speaks the
// real wire protocols, so the real aws-sdk-go-v2 clients talk to it unchanged (aws.Config
// BaseEndpoint = Server.URL()).
//
// It exists only for what no emulator does: injected latency, throttling and wire-level errors,
// call counting over the wire, and fast large-scale benchmarks (1,000 accounts x 100 users). What
// still uses it, and why: internal/tools/orgbench (latency, throttling, 1,000 accounts);
// internal/org's run, selection and credential tests (throttling storms, AssumeRole, STS and
// Organizations paging over the wire,
// silent or slow servers); the CLI's TestAuditOrgWithFake (audit --org --endpoint-url through the
// real SDK under throttling). Behaviour that moto can check is checked against moto
// (../moto); CLI and pipeline tests that only need IAM, STS or Organizations behaviour use the
// in-memory fake (../memiam) through the CLI Factory's AWS.
//
// # Wire protocols
//
// All three services arrive at the same URL:
//   - Organizations: AWS JSON 1.1, recognised by the X-Amz-Target header
//     (AWSOrganizationsV20161128.<Action>); errors are {"__type": ..., "Message": ...}.
//   - IAM and STS: AWS Query (form-encoded POST with Action=...), XML responses in the
//     2010-05-08 / 2011-06-15 namespaces, errors as <ErrorResponse><Error>...</Error>.
//     IAM and STS are told apart by the SigV4 credential scope's service name (".../iam/..."
//     or ".../sts/..."), or by the action name when the request is unsigned.
//
// # Identity
//
// The account a request is for comes from the access key ID in its Authorization header:
//   - keys issued by the fake's AssumeRole ("ASIA" + 12-digit account + 4 characters) map to
//     the account in their role ARN;
//   - "AKIAFAKE" + 12-digit account (what Config(acct) uses) maps to that account;
//   - keys listed in Options.Credentials map to the account given there;
//   - any other key is the caller's base credentials: the management account, as the IAM user
//     Options.CallerUserName.
//
// Signatures are never checked; a session token that does not match the issued one is refused.
//
// # SDK clients
//
// Give SDK clients HTTPClient() (Config does): it works around an aws-sdk-go-v2/net/http race
// that a server this fast exposes on responses over 4 KiB (see HTTPClient).
//
// # Faults
//
// Each request is counted (Calls), then delayed (Latency, LatencyFunc, without holding any
// lock), then possibly throttled (ThrottleRate), then possibly failed (ErrorHook), then served.
// For counters and hooks, the "account" of a call is the account whose credentials signed it,
// except for sts:AssumeRole, where it is the target account of the role ARN.
package fakeaws

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region Config uses.
const Region = "us-east-1"

// DefaultManagementAccount is the management account when Options.ManagementAccount is empty.
const DefaultManagementAccount = "111111111111"

// ErrorHook decides, per call, whether to fail it with an error code instead of serving it.
// It returns "" to let the call through, or an error code such as "Throttling",
// "AccessDenied", "LimitExceeded", "ServiceFailure", "NoSuchEntity" (IAM/STS) or
// "TooManyRequestsException", "AccessDeniedException" (Organizations). The HTTP status and
// message come from a built-in table (400 and a generic message for unknown codes). It is
// called concurrently.
type ErrorHook func(action, account string) string

// SlotOrder decides which key goes in the credential report's access_key_1 and access_key_2
// columns (and the order of ListAccessKeys).
type SlotOrder int

const (
	// SlotsAsGiven keeps each key in the slot of its index in User.Keys; a deleted key leaves
	// its slot empty. Real reports show slot 1 newer than slot 2, so this is the default.
	SlotsAsGiven SlotOrder = iota
	// SlotsOldestFirst puts the oldest remaining key in slot 1 (moto's behaviour: after a
	// delete the other key moves to slot 1).
	SlotsOldestFirst
	// SlotsNewestFirst puts the newest remaining key in slot 1.
	SlotsNewestFirst
)

// Options configures a Server. The zero value works.
type Options struct {
	// ManagementAccount is the Organizations management account and the account of the base
	// credentials. Default DefaultManagementAccount. New creates it (OU path "", the root).
	ManagementAccount string
	// CallerUserName is the IAM user name of the base credentials (GetCallerIdentity, GetUser
	// and the access-key actions without UserName). Default "admin".
	CallerUserName string
	// Credentials maps extra base access key IDs to the account they sign for.
	Credentials map[string]string
	// NoOrganization makes every Organizations call fail with
	// AWSOrganizationsNotInUseException (a standalone account).
	NoOrganization bool

	// Seed makes throttling and generated IDs deterministic.
	Seed int64
	// Latency is added to every call (the handler sleeps; no lock is held meanwhile).
	Latency time.Duration
	// LatencyFunc, when set, adds a per-call latency on top of Latency.
	LatencyFunc func(action, account string) time.Duration
	// ThrottleRate is the fraction (0..1) of calls answered with a throttling error: IAM and
	// STS "Throttling: Rate exceeded" (HTTP 400), Organizations TooManyRequestsException
	// (HTTP 400). Which calls are throttled is a deterministic function of Seed, the account,
	// the action and how many times that account called that action before.
	ThrottleRate float64
	// ErrorHook, when set, may fail any call with an error code (after throttling).
	ErrorHook ErrorHook

	// ReportReadyAfter is K: the first GenerateCredentialReport answers STARTED, and the report
	// is ready after K further credential-report calls (GenerateCredentialReport answers
	// INPROGRESS, then COMPLETE on the K-th; GetCredentialReport answers ReportInProgress
	// until then, and the K-th call returns the report). 0: ready straight away.
	ReportReadyAfter int
	// ReportMaxAge is how long a report stays current: GenerateCredentialReport on an older
	// report starts a new one, GetCredentialReport on it answers ReportExpired. Default 4h.
	ReportMaxAge time.Duration
	// SlotOrder decides the report's key slots. Default SlotsAsGiven.
	SlotOrder SlotOrder
	// OmitRootRow leaves the <root_account> row out of credential reports (as moto does).
	OmitRootRow bool

	// SimulateDecision decides iam:SimulatePrincipalPolicy: "allowed", "explicitDeny" or
	// "implicitDeny". Default: everything allowed.
	SimulateDecision func(account, principalARN, action, resource string) string

	// Now is the server clock (report GeneratedTime and age, AssumeRole Expiration and its
	// check). Default time.Now. With a clock far in the past, the SDK's credentials cache sees
	// assumed-role credentials as already expired and calls AssumeRole before every request.
	Now func() time.Time
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts Options
	mgmt string

	mu       sync.RWMutex // guards accounts, order, org
	accounts map[string]*account
	order    []string // account IDs in insertion order (Organizations listing order)
	org      *orgTree
	creds    map[string]string // extra base access key IDs -> account

	sessions sync.Map // access key ID -> *session

	faults atomic.Pointer[faultConfig]

	countersMu sync.RWMutex
	counters   map[string]*counter

	idSeq     atomic.Uint64
	sessSeq   atomic.Uint64
	inFlight  atomic.Int64
	maxFlight atomic.Int64

	ts   *httptest.Server
	done chan struct{}
	once sync.Once
}

type faultConfig struct {
	latency      time.Duration
	latencyFunc  func(action, account string) time.Duration
	throttleRate float64
	hook         ErrorHook
}

type counter struct {
	mu     sync.Mutex
	calls  map[string]int
	faults map[string]int
	seq    map[string]uint64
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// New starts a fake on a loopback port (like httptest.NewServer). Close it when done.
func New(opts Options) *Server {
	s := NewUnstarted(opts)
	if err := s.Start(""); err != nil {
		panic(fmt.Sprintf("fakeaws: %v", err))
	}
	return s
}

// NewUnstarted returns a fake that serves nothing until Start; it is an http.Handler, so it can
// also be mounted in any http.Server.
func NewUnstarted(opts Options) *Server {
	if opts.ManagementAccount == "" {
		opts.ManagementAccount = DefaultManagementAccount
	}
	if !accountIDPattern.MatchString(opts.ManagementAccount) {
		panic(fmt.Sprintf("fakeaws: ManagementAccount %q is not 12 digits", opts.ManagementAccount))
	}
	if opts.CallerUserName == "" {
		opts.CallerUserName = "admin"
	}
	if opts.ReportMaxAge <= 0 {
		opts.ReportMaxAge = 4 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		mgmt:     opts.ManagementAccount,
		accounts: map[string]*account{},
		creds:    map[string]string{},
		counters: map[string]*counter{},
		done:     make(chan struct{}),
	}
	for k, v := range opts.Credentials {
		s.creds[k] = v
	}
	s.org = newOrgTree(s.mgmt)
	s.faults.Store(&faultConfig{
		latency:      opts.Latency,
		latencyFunc:  opts.LatencyFunc,
		throttleRate: opts.ThrottleRate,
		hook:         opts.ErrorHook,
	})
	s.AddAccount(s.mgmt, "management", "")
	return s
}

// Start serves on addr, which must be a loopback address ("" means 127.0.0.1:0, a free port).
// It returns once the listener is open; URL() then gives the endpoint.
func (s *Server) Start(addr string) error {
	if s.ts != nil {
		return errors.New("already started")
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("address %q is not loopback: the fake serves loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ts = &httptest.Server{Listener: ln, Config: &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}}
	s.ts.Start()
	return nil
}

// URL is the endpoint for aws.Config.BaseEndpoint, e.g. "http://127.0.0.1:34567".
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Close stops the server; calls sleeping for injected latency return at once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	if s.ts != nil {
		s.ts.Close()
	}
}

// ManagementAccount is the management account ID.
func (s *Server) ManagementAccount() string { return s.mgmt }

// Config returns an aws.Config for the fake whose static credentials sign as account acct
// (the base identity Options.CallerUserName in that account). The account must exist for
// calls to succeed. It uses HTTPClient (see there why). The retryer is the SDK default; set
// cfg.Retryer to func() aws.Retryer { return aws.NopRetryer{} } to see raw errors.
func (s *Server) Config(acct string) aws.Config {
	url := s.URL()
	return aws.Config{
		Region:       Region,
		BaseEndpoint: &url,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyFor(acct), "fakeaws-secret", ""),
		HTTPClient:   HTTPClient(),
	}
}

// AccessKeyFor is the base access key ID that signs as account acct: "AKIAFAKE" + acct.
func AccessKeyFor(acct string) string { return "AKIAFAKE" + acct }

// SetLatency changes Options.Latency at run time.
func (s *Server) SetLatency(d time.Duration) {
	s.updateFaults(func(f *faultConfig) { f.latency = d })
}

// SetLatencyFunc changes Options.LatencyFunc at run time.
func (s *Server) SetLatencyFunc(fn func(action, account string) time.Duration) {
	s.updateFaults(func(f *faultConfig) { f.latencyFunc = fn })
}

// SetThrottleRate changes Options.ThrottleRate at run time.
func (s *Server) SetThrottleRate(rate float64) {
	s.updateFaults(func(f *faultConfig) { f.throttleRate = rate })
}

// SetErrorHook changes Options.ErrorHook at run time (nil removes it).
func (s *Server) SetErrorHook(h ErrorHook) {
	s.updateFaults(func(f *faultConfig) { f.hook = h })
}

func (s *Server) updateFaults(fn func(*faultConfig)) {
	for {
		old := s.faults.Load()
		nf := *old
		fn(&nf)
		if s.faults.CompareAndSwap(old, &nf) {
			return
		}
	}
}

// FailFirst returns an ErrorHook that fails the first n calls matching action and account
// ("" matches any) with code, and lets every other call through.
func FailFirst(n int, code, action, acct string) ErrorHook {
	var left atomic.Int64
	left.Store(int64(n))
	return func(a, ac string) string {
		if (action != "" && a != action) || (acct != "" && ac != acct) {
			return ""
		}
		if left.Add(-1) >= 0 {
			return code
		}
		return ""
	}
}

// Calls returns how many requests the fake received for account acct, by action name
// ("ListUsers", "AssumeRole", "ListAccounts", ...), throttled and failed ones included.
// Requests that could not be attributed to an account are under acct "".
func (s *Server) Calls(acct string) map[string]int {
	return s.readCounter(acct, func(c *counter) map[string]int { return c.calls })
}

// Faults returns how many of Calls(acct) were answered with an injected error (throttling or
// ErrorHook), by action.
func (s *Server) Faults(acct string) map[string]int {
	return s.readCounter(acct, func(c *counter) map[string]int { return c.faults })
}

func (s *Server) readCounter(acct string, pick func(*counter) map[string]int) map[string]int {
	out := map[string]int{}
	s.countersMu.RLock()
	c := s.counters[acct]
	s.countersMu.RUnlock()
	if c == nil {
		return out
	}
	c.mu.Lock()
	for k, v := range pick(c) {
		out[k] = v
	}
	c.mu.Unlock()
	return out
}

// TotalCalls sums Calls over every account, by action.
func (s *Server) TotalCalls() map[string]int {
	out := map[string]int{}
	s.countersMu.RLock()
	cs := make([]*counter, 0, len(s.counters))
	for _, c := range s.counters {
		cs = append(cs, c)
	}
	s.countersMu.RUnlock()
	for _, c := range cs {
		c.mu.Lock()
		for k, v := range c.calls {
			out[k] += v
		}
		c.mu.Unlock()
	}
	return out
}

// ResetCalls zeroes every counter (and restarts the throttling sequence).
func (s *Server) ResetCalls() {
	s.countersMu.Lock()
	s.counters = map[string]*counter{}
	s.countersMu.Unlock()
	s.maxFlight.Store(s.inFlight.Load())
}

// MaxInFlight is the largest number of requests the fake was serving at once (including those
// sleeping for latency) since it started or since ResetCalls.
func (s *Server) MaxInFlight() int64 { return s.maxFlight.Load() }

func (s *Server) counterFor(acct string) *counter {
	s.countersMu.RLock()
	c := s.counters[acct]
	s.countersMu.RUnlock()
	if c != nil {
		return c
	}
	s.countersMu.Lock()
	defer s.countersMu.Unlock()
	if c = s.counters[acct]; c == nil {
		c = &counter{calls: map[string]int{}, faults: map[string]int{}, seq: map[string]uint64{}}
		s.counters[acct] = c
	}
	return c
}

// count records a call and returns its sequence number among the account's calls of action.
func (s *Server) count(acct, action string) uint64 {
	c := s.counterFor(acct)
	c.mu.Lock()
	c.calls[action]++
	n := c.seq[action]
	c.seq[action]++
	c.mu.Unlock()
	return n
}

func (s *Server) countFault(acct, action string) {
	c := s.counterFor(acct)
	c.mu.Lock()
	c.faults[action]++
	c.mu.Unlock()
}

// throttled is a deterministic coin: splitmix64 of (seed, account, action, n) below rate.
func (s *Server) throttled(rate float64, acct, action string, n uint64) bool {
	if rate <= 0 {
		return false
	}
	if rate >= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(acct))
	h.Write([]byte{0})
	h.Write([]byte(action))
	x := splitmix64(uint64(s.opts.Seed) ^ h.Sum64() ^ (n * 0x9E3779B97F4A7C15))
	return float64(x>>11)/float64(1<<53) < rate
}

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func (s *Server) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}

// requestID returns a fresh request ID in AWS's UUID shape.
func (s *Server) requestID() string {
	n := s.idSeq.Add(1)
	return fmt.Sprintf("%08x-fa4e-4a75-8000-%012x", uint32(s.opts.Seed), n)
}

// caller is who signed a request.
type caller struct {
	account string
	session *session // nil for base credentials
	userARN string
	userID  string
	key     string
}

type session struct {
	account     string
	roleARN     string
	roleName    string
	sessionName string
	roleID      string
	token       string
	expires     time.Time
}

var (
	credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/[^/]*/[^/]*/([^/]+)/`)
	sessionKeyRE = regexp.MustCompile(`^ASIA([0-9]{12})[A-Z0-9]{4}$`)
	baseKeyRE    = regexp.MustCompile(`^AKIAFAKE([0-9]{12})$`)
)

// signature returns the access key ID and the credential-scope service of a request.
func signature(r *http.Request) (key, service string) {
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1], m[2]
	}
	if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		parts := strings.Split(c, "/")
		if len(parts) >= 4 {
			return parts[0], parts[3]
		}
	}
	return "", ""
}

// authError is a failure to establish the caller.
type authError struct{ code, msg string }

func (s *Server) resolveCaller(r *http.Request, key string) (caller, *authError) {
	if key == "" {
		return caller{}, &authError{"MissingAuthenticationToken", "Request is missing Authentication Token"}
	}
	if v, ok := s.sessions.Load(key); ok {
		ss := v.(*session)
		if tok := r.Header.Get("X-Amz-Security-Token"); tok != ss.token {
			return caller{}, &authError{"InvalidClientTokenId", "The security token included in the request is invalid."}
		}
		if s.opts.Now().After(ss.expires) {
			return caller{}, &authError{"ExpiredToken", "The security token included in the request is expired"}
		}
		return caller{
			account: ss.account,
			session: ss,
			userARN: "arn:aws:sts::" + ss.account + ":assumed-role/" + ss.roleName + "/" + ss.sessionName,
			userID:  ss.roleID + ":" + ss.sessionName,
			key:     key,
		}, nil
	}
	acct := ""
	if m := sessionKeyRE.FindStringSubmatch(key); m != nil {
		// A session key this server did not issue (or issued before a restart).
		acct = m[1]
		if !s.hasAccount(acct) {
			return caller{}, &authError{"InvalidClientTokenId", "The security token included in the request is invalid."}
		}
		ss := &session{account: acct, roleName: "unknown", sessionName: "unknown", roleID: "AROAFAKEUNKNOWN00000"}
		return caller{account: acct, session: ss, userARN: "arn:aws:sts::" + acct + ":assumed-role/unknown/unknown", userID: ss.roleID + ":unknown", key: key}, nil
	} else if m := baseKeyRE.FindStringSubmatch(key); m != nil {
		acct = m[1]
	} else {
		s.mu.RLock()
		acct = s.creds[key]
		s.mu.RUnlock()
		if acct == "" {
			acct = s.mgmt
		}
	}
	if !s.hasAccount(acct) {
		return caller{}, &authError{"InvalidClientTokenId", "The security token included in the request is invalid."}
	}
	return caller{
		account: acct,
		userARN: "arn:aws:iam::" + acct + ":user/" + s.opts.CallerUserName,
		userID:  fakeID("AIDA", acct, s.opts.CallerUserName),
		key:     key,
	}, nil
}

// MapCredentials makes base access key ID key sign for account acct (like Options.Credentials).
func (s *Server) MapCredentials(key, acct string) {
	s.mu.Lock()
	s.creds[key] = acct
	s.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxFlight.Load()
		if n <= m || s.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}

	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(w, r, target)
		return
	}
	s.serveQuery(w, r)
}

// admit runs the common pipeline for an attributed call: count, latency, throttling, error
// hook. It returns the injected error code ("" to serve the call).
func (s *Server) admit(ctx context.Context, acct, action, throttleCode string) string {
	n := s.count(acct, action)
	f := s.faults.Load()
	d := f.latency
	if f.latencyFunc != nil {
		d += f.latencyFunc(action, acct)
	}
	s.sleep(ctx, d)
	if s.throttled(f.throttleRate, acct, action, n) {
		s.countFault(acct, action)
		return throttleCode
	}
	if f.hook != nil {
		if code := f.hook(action, acct); code != "" {
			s.countFault(acct, action)
			return code
		}
	}
	return ""
}
