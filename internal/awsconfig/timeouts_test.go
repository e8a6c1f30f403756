package awsconfig

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// silentServer accepts connections and never answers, as a stalled proxy or a black-holed
// endpoint does.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// Against a server that never answers, a call ends by the call timeout, each attempt by the
// attempt timeout, and the error says which: no call waits forever, the identity call included.
func TestSilentServerIsBounded(t *testing.T) {
	cleanEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	url := silentServer(t)
	for _, tt := range []struct {
		name          string
		attempt, call time.Duration
		want          string
		within        time.Duration
	}{
		{"call timeout", time.Minute, 300 * time.Millisecond, "call timeout (--call-timeout)", 5 * time.Second},
		{"attempt timeout, then the call's", 100 * time.Millisecond, 700 * time.Millisecond, "call timeout", 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(context.Background(), Options{EndpointURL: url, AttemptTimeout: tt.attempt, CallTimeout: tt.call})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, _, err = CallerAccount(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("identity call: err = %v, want %q", err, tt.want)
			}
			_, err = iam.NewFromConfig(cfg).ListUsers(context.Background(), &iam.ListUsersInput{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("IAM call: err = %v", err)
			}
			if took := time.Since(start); took > tt.within {
				t.Fatalf("took %s", took)
			}
		})
	}
	// The defaults are set: a client made without options still has both bounds.
	cfg, err := Load(context.Background(), Options{EndpointURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPClient == nil || len(cfg.APIOptions) == 0 {
		t.Fatalf("no HTTP client or call timeout: %+v", cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestEndpointURL(t *testing.T) {
	cleanEnv(t)
	for _, tt := range []struct {
		url, err, warn string
	}{
		{"ftp://example.com/", "want an absolute http:// or https:// URL", ""},
		{"file:///etc/passwd", "want an absolute http:// or https:// URL", ""},
		{"127.0.0.1:5000", "want an absolute", ""},
		{"http://127.0.0.1:5000", "", ""},
		{"http://localhost:5000", "", ""},
		{"http://[::1]:5000", "", ""},
		{"https://iam.example.com", "", ""},
		{"http://moto.example.com:5000", "", "plain http to a host that is not this machine"},
		{"http://user:pw@10.0.0.1:5000", "", "http://user:xxxxx@10.0.0.1:5000 is plain http"},
	} {
		var warnings []string
		_, err := Load(context.Background(), Options{EndpointURL: tt.url, Warn: func(s string) { warnings = append(warnings, s) }})
		var oe *OptionError
		switch {
		case tt.err != "" && (!errors.As(err, &oe) || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: err = %v, want %q", tt.url, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%s: err = %v", tt.url, err)
		}
		if got := strings.Join(warnings, "; "); (tt.warn == "") != (got == "") || !strings.Contains(got, tt.warn) {
			t.Errorf("%s: warnings %q, want %q", tt.url, got, tt.warn)
		}
	}
}
