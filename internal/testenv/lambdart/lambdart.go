// Package lambdart is a fake of the AWS Lambda Runtime API on loopback, for running a built
// function binary (a provided.al2023 "bootstrap") end to end in tests: no emulator serves this
// protocol without Docker. It speaks the documented HTTP interface: GET
// /2018-06-01/runtime/invocation/next hands out one invocation with its headers, POST
// .../invocation/{id}/response and .../invocation/{id}/error take the result, POST
// /2018-06-01/runtime/init/error records a failed start.
package lambdart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const prefix = "/2018-06-01/runtime/"

// FunctionARN is the ARN the fake tells the function it was invoked as.
const FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:setupkeys"

// Result is how one invocation ended.
type Result struct {
	RequestID string
	// Response is the function's JSON answer when it succeeded.
	Response []byte
	// ErrorType and ErrorMessage are set when the function returned an error.
	ErrorType    string
	ErrorMessage string
}

// Failed reports whether the function returned an error.
func (r Result) Failed() bool { return r.ErrorType != "" || r.ErrorMessage != "" }

type invocation struct {
	id      string
	payload []byte
	done    chan Result
}

// Runtime is the fake. Addr goes in the function's AWS_LAMBDA_RUNTIME_API.
type Runtime struct {
	Addr string

	queue   chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     int
	initErr string
	srv     *http.Server
}

// Start serves the fake on a free loopback port until tb ends.
func Start(tb testing.TB) *Runtime {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("lambdart: %v", err)
	}
	r := &Runtime{Addr: l.Addr().String(), queue: make(chan *invocation, 16), pending: map[string]*invocation{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(l)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.srv.Shutdown(ctx)
		r.srv.Close()
	})
	return r
}

// Invoke hands payload to the function and waits at most timeout for its result. It fails the
// test on a timeout or when the function reported an init error.
func (r *Runtime) Invoke(tb testing.TB, payload []byte, timeout time.Duration) Result {
	tb.Helper()
	r.mu.Lock()
	r.seq++
	inv := &invocation{id: fmt.Sprintf("8476a536-e9f4-11e8-9739-%012d", r.seq), payload: payload, done: make(chan Result, 1)}
	r.pending[inv.id] = inv
	r.mu.Unlock()
	r.queue <- inv
	select {
	case res := <-inv.done:
		return res
	case <-time.After(timeout):
		r.mu.Lock()
		initErr := r.initErr
		r.mu.Unlock()
		tb.Fatalf("lambdart: invocation %s: no result within %s (init error: %q)", inv.id, timeout, initErr)
		return Result{}
	}
}

// InitError is what the function reported through /init/error, if anything.
func (r *Runtime) InitError() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.initErr
}

func (r *Runtime) serve(w http.ResponseWriter, req *http.Request) {
	path := strings.TrimPrefix(req.URL.Path, prefix)
	switch {
	case req.Method == http.MethodGet && path == "invocation/next":
		select {
		case inv := <-r.queue:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(5*time.Minute).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", FunctionARN)
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.Write(inv.payload)
		case <-req.Context().Done():
		}
	case req.Method == http.MethodPost && path == "init/error":
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.initErr = string(body)
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case req.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		id, kind, ok := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		r.mu.Lock()
		inv := r.pending[id]
		delete(r.pending, id)
		r.mu.Unlock()
		if !ok || inv == nil || (kind != "response" && kind != "error") {
			http.Error(w, `{"errorMessage":"unknown invocation","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(req.Body, 6<<20))
		res := Result{RequestID: id}
		if kind == "response" {
			res.Response = body
		} else {
			var e struct {
				ErrorMessage string `json:"errorMessage"`
				ErrorType    string `json:"errorType"`
			}
			json.Unmarshal(body, &e)
			res.ErrorType, res.ErrorMessage = e.ErrorType, e.ErrorMessage
			if !res.Failed() {
				res.ErrorType = "Unknown"
			}
		}
		w.WriteHeader(http.StatusAccepted)
		inv.done <- res
	default:
		http.NotFound(w, req)
	}
}
