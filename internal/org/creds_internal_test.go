package org

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestAccountCheck(t *testing.T) {
	creds := func(acct string) aws.CredentialsProvider {
		return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "ASIAEXAMPLE", AccountID: acct}, nil
		})
	}
	role := "arn:aws:iam::222222222222:role/Audit"
	if _, err := (accountCheck{creds("222222222222"), "222222222222", role}).Retrieve(context.Background()); err != nil {
		t.Errorf("the right account: %v", err)
	}
	if _, err := (accountCheck{creds(""), "222222222222", role}).Retrieve(context.Background()); err != nil {
		t.Errorf("no account in the credentials: %v", err)
	}
	_, err := (accountCheck{creds("333333333333"), "222222222222", role}).Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gave credentials for account 333333333333, not 222222222222") {
		t.Errorf("another account: err = %v", err)
	}
}

// accountCredentials fetches once and serves the cache until a minute before expiry; the fetch
// runs under the caller's context (its deadline reaches the provider), and a caller waiting for
// another's fetch gives up when its own context ends.
func TestAccountCredentials(t *testing.T) {
	now := time.Now()
	var calls atomic.Int32
	var sawDeadline atomic.Bool
	expires := now.Add(time.Hour)
	p := newAccountCredentials(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		calls.Add(1)
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return aws.Credentials{AccessKeyID: "ASIAEXAMPLE", CanExpire: true, Expires: expires}, nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		if _, err := p.Retrieve(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 || !sawDeadline.Load() {
		t.Errorf("calls = %d, deadline seen = %v; want one fetch under the caller's deadline", calls.Load(), sawDeadline.Load())
	}
	expires = now.Add(30 * time.Second) // the next fetch's credentials expire soon
	p.creds.Store(&aws.Credentials{AccessKeyID: "ASIAEXAMPLE", CanExpire: true, Expires: now.Add(30 * time.Second)})
	if _, err := p.Retrieve(ctx); err != nil || calls.Load() != 2 {
		t.Errorf("credentials within a minute of expiry: calls = %d, err = %v; want a new fetch", calls.Load(), err)
	}

	// One caller holds the fetch; another, whose context ends, does not wait for it.
	held := make(chan struct{})
	release := make(chan struct{})
	slow := newAccountCredentials(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		close(held)
		<-release
		return aws.Credentials{AccessKeyID: "ASIAEXAMPLE"}, nil
	}))
	go slow.Retrieve(context.Background())
	<-held
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, err := slow.Retrieve(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller: err = %v, want its deadline", err)
	}
	close(release)
}
