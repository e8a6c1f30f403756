package binarytest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// holdingProxy is a reverse proxy in front of moto that holds the answer to every call of one
// AWS action (UpdateAccessKey, AssumeRole): the request reaches moto, which carries it out, but
// the answer is kept from the client until release, or for good. It sits where a slow network
// or a stalled load balancer would, between IAM acting and the caller reading the answer.
type holdingProxy struct {
	url string
	// held receives each held call's action as its answer arrives from moto.
	held chan string
	// release, once closed, lets every held answer through.
	release     chan struct{}
	releaseOnce sync.Once
}

// newHoldingProxy proxies to target, holding the answers to action.
func newHoldingProxy(t *testing.T, target, action string) *holdingProxy {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{held: make(chan string, 16), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(to)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Header.Get("X-Setupkeys-Test-Action") != action {
			return nil
		}
		select {
		case p.held <- action:
		default:
		}
		select {
		case <-p.release:
		case <-resp.Request.Context().Done(): // the client is gone (killed, or it gave up)
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// AWS query protocol: the action is a form field of the body.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil {
			r.Header.Set("X-Setupkeys-Test-Action", form.Get("Action"))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.Release()
		srv.CloseClientConnections()
		srv.Close()
	})
	p.url = srv.URL
	return p
}

// Release lets every held answer through, now and from then on.
func (p *holdingProxy) Release() { p.releaseOnce.Do(func() { close(p.release) }) }
