package org

import (
	"context"
	"strings"
	"testing"

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
