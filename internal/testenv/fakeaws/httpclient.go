package fakeaws

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPClient returns the HTTP client Config uses; set it as aws.Config.HTTPClient whenever an
// SDK client talks to a fast local endpoint (this fake, and in principle moto).
//
// It works around a race between aws-sdk-go-v2/smithy-go and net/http that a fast local server
// exposes. smithy-go wraps every request body in a "safe" ReadCloser and closes it as soon as
// client.Do returns, that is, once the response headers have arrived. net/http's writeLoop, after
// sending Content-Length bytes, copies whatever is left of the body to io.Discard; that copy
// goes through the wrapper's WriteTo, which returns io.EOF once the wrapper is closed, and
// net/http takes that io.EOF as a write error and closes the connection. When the server has
// already answered (it does within microseconds here), the SDK is still reading the response
// body, and the read fails with "deserialization failed, ... use of closed network connection"
// (retryable, so the standard retryer hides it; aws.NopRetryer shows it). Only response bodies
// larger than the transport's read buffer (4 KiB: ListUsers pages, credential reports) can be
// hit. This client hides the body's WriteTo, so the trailing copy uses Read, whose io.EOF
// io.Copy treats as the normal end.
//
// Its transport is shared and keeps up to 1,024 idle connections per host, so benchmarks with
// many goroutines reuse connections instead of exhausting ephemeral ports.
func HTTPClient() *http.Client {
	transportOnce.Do(func() {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		sharedTransport = &bodyWrapTransport{base: &http.Transport{
			Proxy:                 nil, // loopback only
			DialContext:           dialer.DialContext,
			MaxIdleConns:          0,
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}}
	})
	return &http.Client{Transport: sharedTransport}
}

var (
	transportOnce   sync.Once
	sharedTransport *bodyWrapTransport
)

type bodyWrapTransport struct{ base http.RoundTripper }

// readOnlyBody hides the wrapped body's WriteTo (if any).
type readOnlyBody struct{ rc io.ReadCloser }

func (b readOnlyBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readOnlyBody) Close() error               { return b.rc.Close() }

func (t *bodyWrapTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		if _, ok := r.Body.(io.WriterTo); ok {
			r2 := *r // a RoundTripper must not modify the caller's request
			r2.Body = readOnlyBody{r.Body}
			r = &r2
		}
	}
	return t.base.RoundTrip(r)
}
