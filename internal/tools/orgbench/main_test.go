package main

import (
	"context"
	"testing"
	"time"
)

// TestSmall runs the harness on a small organization with throttling, the fake in process, both
// paths: every account must come back with exactly the expected findings.
func TestSmall(t *testing.T) {
	for _, exact := range []bool{false, true} {
		o := options{accounts: 6, users: 30, latency: time.Millisecond, throttle: 0.1, concurrency: 3,
			readyAfter: 1, seed: 5, retryMode: "cli", inProcess: true, quiet: true, header: true, exact: exact}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		ok, err := run(ctx, o)
		cancel()
		if err != nil || !ok {
			t.Errorf("exact=%v: ok %v, err %v", exact, ok, err)
		}
	}
}
