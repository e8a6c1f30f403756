package org_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/org"
)

// hangingSTS accepts connections, reads what comes and never answers, as a black-holed STS
// endpoint does. hungUp is closed once a client has connected and then closed its connection.
func hangingSTS(t *testing.T) (url string, hungUp <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(io.Discard, c) // returns when the client closes the connection
				once.Do(func() { close(closed) })
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		once.Do(func() {}) // nothing more to report
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), closed
}

// baseConfig is the run's configuration as the CLI loads it, with the given call timeout and
// STS at stsURL; nothing else is reached.
func baseConfig(t *testing.T, stsURL string, call time.Duration) aws.Config {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIATESTTESTTEST0001", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_PROFILE": "", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_IAM": stsURL,
		"AWS_ENDPOINT_URL_STS": stsURL, "AWS_SESSION_TOKEN": "",
	} {
		t.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	cfg, err := awsconfig.Load(context.Background(), awsconfig.Options{CallTimeout: call})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A member account's audit whose sts:AssumeRole gets no answer ends at the account's deadline
// (--account-timeout), not the call timeout: the error names the timeout, and the AssumeRole
// request is abandoned then rather than left running in the background.
func TestAccountTimeoutCoversAssumeRole(t *testing.T) {
	url, hungUp := hangingSTS(t)
	base := baseConfig(t, url, time.Hour)
	const member = "222222222222"
	const timeout = 300 * time.Millisecond
	audit := func(ctx context.Context, a org.Account) (setupkeys.AccountResult, error) {
		cfg, err := org.AccountConfig(base, a.ID, "111111111111", org.RoleOptions{})
		if err != nil {
			return setupkeys.AccountResult{}, err
		}
		_, err = iam.NewFromConfig(cfg).GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		return setupkeys.AccountResult{}, err
	}
	done := make(chan []setupkeys.AccountResult, 1)
	go func() {
		res, _ := org.Collect(context.Background(), []org.Account{{ID: member}}, org.RunOptions{PerAccountTimeout: timeout}, audit)
		done <- res
	}()
	var res []setupkeys.AccountResult
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the account's audit did not end at its deadline (the call timeout is an hour)")
	}
	if len(res) != 1 || res[0].AccountID != member || res[0].Err == nil {
		t.Fatalf("results = %+v", res)
	}
	if msg := res[0].Err.Error(); !strings.Contains(msg, "timed out after 300ms") || !strings.Contains(msg, "AssumeRole") {
		t.Errorf("Err = %q, want the account timeout and the AssumeRole it cut", msg)
	}
	select {
	case <-hungUp:
	case <-time.After(20 * time.Second):
		t.Error("the AssumeRole request was still open well after the account's deadline")
	}
}
