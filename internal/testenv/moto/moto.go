// Package moto starts and drives a real moto server (the AWS emulator) for
// integration tests, with a movable clock.
//
// Why a real server: the audit, remediation and Organizations code paths are
// exercised through the real aws-sdk-go-v2 clients, so the tests see real
// request signing, serialization, error codes and paginators, not a fake's
// idea of them. See NOTES.md in this directory for the moto behaviours that
// differ from AWS; never encode them as the rule.
//
// Why a movable clock: the rule compares user and key creation times and the
// 2015-04-22 last-used tracking cut-over, so tests need users and keys made
// "in the past". moto stamps everything with the wall clock, so the server
// runs under libfaketime (LD_PRELOAD) reading an offset from a file that it
// re-reads on every clock call; SetClock and InPast rewrite that file.
//
// # Preferred pattern: one server per test binary
//
// Starting moto takes about a second or more, so share one server per package
// and give each test a clean state:
//
//	func TestMain(m *testing.M) { moto.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := moto.Shared(t) // reset: no resources, clock at real time
//		cfg := srv.Config(t, moto.DefaultAccountID)
//		...
//	}
//
// A shared server holds global state: tests that use it must not call
// t.Parallel. Each test binary (each package under `go test ./...`) gets its
// own server, port and clock file, so packages still run in parallel. Start
// gives a test its own private server when it really needs one.
//
// Missing python3, moto or libfaketime, or a server that does not come up, is
// a test failure (tb.Fatalf), never a skip: CI must not go green by silently
// skipping the integration tests.
package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
)

// DefaultAccountID is the account moto serves a request from when the
// request's access key is not one moto issued (moto's DEFAULT_ACCOUNT_ID).
const DefaultAccountID = "123456789012"

// Region is the region of every Config: IAM is global and lives in us-east-1
// in the aws partition.
const Region = "us-east-1"

// startTimeout bounds how long Start waits for moto to answer. A cold start
// (importing moto, Flask, werkzeug) takes ~1 s on a warm machine; CI machines
// can be much slower.
const startTimeout = 30 * time.Second

// callTimeout bounds each request the harness itself makes, so a wedged
// server fails the test instead of hanging it until go test's timeout.
const callTimeout = 30 * time.Second

// harnessAccessKeyID signs the harness's own requests for the default
// account. moto never checks signatures; the ID only has to look like an
// access key (20 upper-case alphanumerics) and must not be one moto issued,
// so that moto maps it to DefaultAccountID.
const harnessAccessKeyID = "AKIAMOTOHARNESS00001"

// Server is a running moto server with a movable clock.
type Server struct {
	url       string
	pid       int
	dir       string // holds the clock file and the server log
	clockFile string
	logFile   string
	done      chan struct{} // closed when the process has exited
	stopOnce  sync.Once

	// generation counts Resets. A Reset makes moto forget the STS
	// credentials that Config issued for non-default accounts, after which
	// moto would silently serve them from DefaultAccountID; configs check
	// the generation they were made in and refuse to be used after a Reset.
	generation atomic.Uint64
}

// Start starts a private moto server for tb and stops it (the whole process
// group) when tb ends. Prefer Shared unless a test needs its own server.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if err != nil {
		tb.Fatalf("moto: %v", err)
	}
	tb.Cleanup(s.stop)
	return s
}

var shared struct {
	mainRunning bool
	once        sync.Once
	srv         *Server
	err         error
}

// Main runs the package's tests and then stops the shared server, if any
// test started it. Call it from TestMain so Shared can hand out one server
// for the whole test binary:
//
//	func TestMain(m *testing.M) { moto.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit: it returns the tests' exit code, for a TestMain that has its own
// cleanup to do after the tests (a binary it built).
func Run(m *testing.M) int {
	shared.mainRunning = true
	code := m.Run()
	if shared.srv != nil {
		shared.srv.stop()
	}
	return code
}

// Shared returns the test binary's shared server, starting it on first use,
// after resetting it (Reset: no resources in any account, clock at real
// time), so each test starts clean. It requires TestMain to call Main, which
// stops the server at the end; tests using it must not run in parallel.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	if !shared.mainRunning {
		tb.Fatalf("moto.Shared: the package has no TestMain calling moto.Main(m); add\n\tfunc TestMain(m *testing.M) { moto.Main(m) }\nor use moto.Start for a private server")
	}
	shared.once.Do(func() { shared.srv, shared.err = start() })
	if shared.err != nil {
		tb.Fatalf("moto: shared server: %v", shared.err)
	}
	shared.srv.Reset(tb)
	return shared.srv
}

// URL is the server's base URL, e.g. http://127.0.0.1:40123: the endpoint
// for every service (IAM, STS, Organizations, ...).
func (s *Server) URL() string { return s.url }

// Reset makes moto forget everything, in every account, and puts its clock
// back to real time. Configs made for non-default accounts before the Reset
// stop working (moto forgot their credentials): make them again.
func (s *Server) Reset(tb testing.TB) {
	tb.Helper()
	s.generation.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/moto-api/reset", nil)
	if err != nil {
		tb.Fatalf("moto: reset: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("moto: reset: %v%s", err, s.logTail())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("moto: reset: HTTP %s", resp.Status)
	}
	s.ResetClock(tb)
}

// SetClock moves moto's clock by offset from real time (negative: the past)
// until the next SetClock, ResetClock or Reset. Everything moto stamps in the
// meantime (user and key creation, key last use) carries the moved time.
// The offset must be whole seconds, the precision of the credential report.
func (s *Server) SetClock(tb testing.TB, offset time.Duration) {
	tb.Helper()
	if offset%time.Second != 0 {
		tb.Fatalf("moto: SetClock(%v): the offset must be a whole number of seconds", offset)
	}
	if err := s.writeClock(offset); err != nil {
		tb.Fatalf("moto: SetClock(%v): %v", offset, err)
	}
}

// ResetClock puts moto's clock back to real time.
func (s *Server) ResetClock(tb testing.TB) {
	tb.Helper()
	s.SetClock(tb, 0)
}

// InPast runs f with moto's clock moved ago into the past, then puts the
// clock back to real time, even if f fails the test. Use it to make users
// and keys that were created, say, 200 days ago:
//
//	srv.InPast(t, 200*24*time.Hour, func() {
//		moto.CreateConsoleUser(t, cfg, "alice")
//		key = moto.CreateAccessKey(t, cfg, "alice")
//	})
func (s *Server) InPast(tb testing.TB, ago time.Duration, f func()) {
	tb.Helper()
	if ago < 0 {
		tb.Fatalf("moto: InPast(%v): ago must not be negative; use SetClock to move the clock forward", ago)
	}
	s.SetClock(tb, -ago)
	defer s.ResetClock(tb)
	f()
}

// writeClock writes the libfaketime offset file. libfaketime takes a signed
// offset in seconds ("+0", "-17280000"; suffixes m, h, d, y also work, a
// trailing "s" happens to be ignored). The file is replaced atomically so
// moto, which re-reads it on every clock call, never sees a partial write.
func (s *Server) writeClock(offset time.Duration) error {
	return writeFileAtomic(s.clockFile, fmt.Sprintf("%+d\n", int64(offset/time.Second)))
}

func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".clock-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Config returns an aws.Config that sends every service to this server as
// accountID, in Region, ignoring the environment and ~/.aws.
//
// moto picks the account of a request from its access key: a key moto issued
// belongs to the account it was issued in, any other key to DefaultAccountID.
// So for another account Config calls sts:AssumeRole into
// arn:aws:iam::<accountID>:role/... (moto needs no such role to exist) and
// signs with the temporary credentials it returns, the same way the
// Organizations source reaches member accounts. Reset makes moto forget those
// credentials; a config from before a Reset fails its requests instead of
// silently landing in the default account.
func (s *Server) Config(tb testing.TB, accountID string) aws.Config {
	tb.Helper()
	cfg := aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(s.url),
		Credentials:  credentials.NewStaticCredentialsProvider(harnessAccessKeyID, "moto-harness-secret", ""),
	}
	if accountID == DefaultAccountID {
		return cfg
	}
	if !accountIDPattern.MatchString(accountID) {
		tb.Fatalf("moto: Config(%q): an account ID is 12 digits", accountID)
	}
	gen := s.generation.Load()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + accountID + ":role/moto-harness"),
		RoleSessionName: aws.String("moto-harness"),
	})
	if err != nil {
		tb.Fatalf("moto: Config(%s): sts AssumeRole: %v", accountID, err)
	}
	c := out.Credentials
	// Static, not an stscreds provider: moto never expires credentials, and
	// an expiry computed by a moved clock would only make the SDK refresh.
	cfg.Credentials = credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	cfg.APIOptions = append(cfg.APIOptions, s.refuseAfterReset(accountID, gen))

	// Prove the mapping rather than trust it: a moto that stopped mapping
	// issued keys to accounts would otherwise put every account's users in
	// the default account and make isolation tests pass for wrong reasons.
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		tb.Fatalf("moto: Config(%s): sts GetCallerIdentity: %v", accountID, err)
	}
	if got := aws.ToString(id.Account); got != accountID {
		tb.Fatalf("moto: Config(%s): moto serves the assumed-role credentials as account %s", accountID, got)
	}
	return cfg
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// refuseAfterReset fails every request made with credentials issued before
// the latest Reset (see Server.generation).
func (s *Server) refuseAfterReset(accountID string, gen uint64) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("MotoRefuseAfterReset",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if s.generation.Load() != gen {
					return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf(
						"moto: this config for account %s was made before a Reset, which made moto forget its credentials (moto would now serve it as %s); call Config again after Reset",
						accountID, DefaultAccountID)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// Env returns environment entries that point an AWS SDK program (the
// setupkeys binary under test) at this server as accountID: credentials,
// region, AWS_ENDPOINT_URL, and no shared config files, profile or instance
// metadata, so the developer's ~/.aws can never leak into a test. Append it
// to os.Environ(); later entries win. Like Config, it goes stale on Reset.
func (s *Server) Env(tb testing.TB, accountID string) []string {
	tb.Helper()
	cfg := s.Config(tb, accountID)
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		tb.Fatalf("moto: Env(%s): %v", accountID, err)
	}
	return []string{
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + c.SessionToken,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ENDPOINT_URL=" + s.url,
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// start launches moto on a free loopback port and waits until it answers.
// Picking a port means closing a listener before moto binds it, so another
// process can win the race; moto then exits with "Address already in use"
// and start tries another port.
func start() (*Server, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("python3 not found in PATH (moto needs it: pip install 'moto[server]==5.2.1'): %v", err)
	}
	lib, err := findFaketime()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(python, lib)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

// faketimeCandidates are where libfaketime's multi-threaded build lives
// (Debian package libfaketime; moto's server is threaded, hence MT).
var faketimeCandidates = []string{
	"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
	"/usr/lib/*-linux-gnu/faketime/libfaketimeMT.so.1",
	"/usr/lib/faketime/libfaketimeMT.so.1",
	"/usr/local/lib/faketime/libfaketimeMT.so.1",
}

func findFaketime() (string, error) {
	for _, pattern := range faketimeCandidates {
		if matches, _ := filepath.Glob(pattern); len(matches) > 0 {
			return matches[0], nil
		}
	}
	// The .so belongs to Debian's libfaketime package, which the faketime
	// package depends on; ask dpkg in case it lives somewhere unusual.
	if out, err := exec.Command("dpkg", "-L", "libfaketime").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(line, "/libfaketimeMT.so.1") {
				return line, nil
			}
		}
	}
	return "", errors.New("libfaketimeMT.so.1 not found: install Debian's faketime package (apt-get install -y faketime); tests need it to move moto's clock")
}

func launch(python, lib string) (s *Server, err error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pick a free port: %v", err)
	}
	// Not tb.TempDir: a shared server outlives the test that started it.
	dir, err := os.MkdirTemp("", "moto-")
	if err != nil {
		return nil, err
	}
	s = &Server{
		url:       "http://127.0.0.1:" + strconv.Itoa(port),
		dir:       dir,
		clockFile: filepath.Join(dir, "faketime"),
		logFile:   filepath.Join(dir, "server.log"),
		done:      make(chan struct{}),
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if err := s.writeClock(0); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.logFile)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor

	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// An inherited MOTO_ACCOUNT_ID would override moto's per-key account
	// mapping and put every request in one account.
	cmd.Env = append(withoutEnv(os.Environ(), "MOTO_ACCOUNT_ID"),
		"LD_PRELOAD="+lib,
		"FAKETIME_TIMESTAMP_FILE="+s.clockFile,
		"FAKETIME_NO_CACHE=1",            // re-read the offset on every clock call
		"FAKETIME_DONT_FAKE_MONOTONIC=1", // timeouts and sleeps keep real time
		"NO_FAKE_STAT=1",                 // file times stay real: Python's .pyc checks compare them
		"PYTHONUNBUFFERED=1",             // the log shows startup errors as they happen
	)
	cmd.SysProcAttr = sysProcAttr()

	// With Pdeathsig the kernel kills moto when the thread that started it
	// exits, which covers a test binary killed by go test's timeout (no
	// Cleanup runs then). Go may retire an idle thread, so start and wait on
	// a goroutine locked to its thread until the process is gone.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		close(s.done)
		return nil, fmt.Errorf("start %s -m moto.server: %v", python, err)
	}
	return s, s.waitReady(port)
}

// withoutEnv drops every entry for key, so an ambient setting cannot leak in.
func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady polls until this process has bound the port (werkzeug logs
// "Running on" only after binding, so an answer cannot come from another
// server that took the port) and answers HTTP.
func (s *Server) waitReady(port int) error {
	deadline := time.Now().Add(startTimeout)
	bound := "Running on http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			log := s.readLog()
			if strings.Contains(log, "in use") {
				return errPortTaken
			}
			return fmt.Errorf("moto server exited before answering (is moto installed for python3? pip install 'moto[server]==5.2.1')%s", s.logTail())
		default:
		}
		if strings.Contains(s.readLog(), bound) {
			resp, err := client.Get(s.url + "/moto-api/data.json")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto server did not answer on %s within %v%s", s.url, startTimeout, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) readLog() string {
	b, _ := os.ReadFile(s.logFile)
	return string(b)
}

// logTail is the end of the server log, for failure messages.
func (s *Server) logTail() string {
	b := []byte(s.readLog())
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	return "\n--- moto server log ---\n" + string(b)
}

// stop kills moto's whole process group (python3 may be a wrapper such as a
// pyenv shim) and removes the temporary directory.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		if s.pid > 0 {
			_ = syscall.Kill(-s.pid, syscall.SIGKILL)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
			}
		}
		_ = os.RemoveAll(s.dir)
	})
}
