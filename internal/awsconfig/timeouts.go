package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
)

// Every AWS call is bounded twice, so a server that accepts a connection and never answers
// cannot hold a run: each HTTP attempt (connect, send, the whole answer) by the attempt
// timeout, and the call as a whole (every attempt and the backoff between them, credential
// resolution included) by the call timeout. A call cut by either fails with a clear error
// (exit 1); an IAM write cut this way is journalled with an unknown outcome.
const (
	// DefaultAttemptTimeout bounds one HTTP attempt (--attempt-timeout).
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultCallTimeout bounds one call with its retries (--call-timeout).
	DefaultCallTimeout = 2 * time.Minute
	// dialTimeout bounds connecting, within an attempt.
	dialTimeout = 10 * time.Second
)

// httpClient is the HTTP client of every AWS call of a run, attempts bounded by attempt.
func httpClient(attempt time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(attempt).WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = min(dialTimeout, attempt)
	})
}

// callTimeout is an initialize-step middleware: it runs before the retry loop, so its deadline
// covers every attempt of the call.
type callTimeout struct{ d time.Duration }

func (callTimeout) ID() string { return "setupkeys.CallTimeout" }

// errCallTimedOut is the cause of a call's context that its call timeout ended, as opposed to a
// deadline of the caller's (an account's --account-timeout), which the message must not blame
// on --call-timeout.
var errCallTimedOut = errors.New("call timeout")

func (c callTimeout) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.d, errCallTimedOut)
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		if errors.Is(context.Cause(ctx), errCallTimedOut) {
			err = fmt.Errorf("no answer within the %s call timeout (--call-timeout): %w", c.d, err)
		}
		cancel()
		return out, md, err
	}
	// A streamed answer (an S3 object's body) is read after the call returns: the deadline
	// stays on, bounding that read too, and is released when it passes.
	time.AfterFunc(c.d, cancel)
	return out, md, err
}

func addCallTimeout(d time.Duration) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error { return s.Initialize.Add(callTimeout{d}, middleware.Before) }
}

// checkEndpoint validates --endpoint-url: an absolute http or https URL. It returns a warning
// when plain http goes to a host that is not this machine (credentials' signatures and every
// answer would cross the network unencrypted).
func checkEndpoint(raw string) (warning string, err error) {
	u, perr := url.Parse(raw)
	if perr != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", &OptionError{fmt.Sprintf("--endpoint-url %q: want an absolute http:// or https:// URL such as http://127.0.0.1:5000", raw)}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("--endpoint-url %s is plain http to a host that is not this machine: AWS calls and answers are not encrypted; use https", u.Redacted()), nil
	}
	return "", nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
