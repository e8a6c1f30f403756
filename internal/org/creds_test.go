package org_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
)

func TestRoleARN(t *testing.T) {
	for _, c := range []struct {
		role org.RoleOptions
		want string
	}{
		{org.RoleOptions{}, "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"},
		{org.RoleOptions{Name: "Audit"}, "arn:aws:iam::123456789012:role/Audit"},
		{org.RoleOptions{Name: "/security/Audit"}, "arn:aws:iam::123456789012:role/security/Audit"},
		{org.RoleOptions{Partition: "aws-cn"}, "arn:aws-cn:iam::123456789012:role/OrganizationAccountAccessRole"},
		{org.RoleOptions{ARNTemplate: "arn:aws:iam::{account}:role/Audit", Name: "ignored"}, "arn:aws:iam::123456789012:role/Audit"},
		{org.RoleOptions{ARNTemplate: "arn:{partition}:iam::{account}:role/x/Audit", Partition: "aws-us-gov"}, "arn:aws-us-gov:iam::123456789012:role/x/Audit"},
	} {
		if err := c.role.Validate(); err != nil {
			t.Errorf("%+v: Validate: %v", c.role, err)
		}
		got, err := c.role.RoleARN("123456789012")
		if err != nil || got != c.want {
			t.Errorf("%+v: RoleARN = %q, %v; want %q", c.role, got, err, c.want)
		}
	}
}

func TestRoleOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		role org.RoleOptions
		want string
	}{
		{org.RoleOptions{ARNTemplate: "arn:aws:iam::123456789012:role/Audit"}, "put {account}"},
		{org.RoleOptions{ARNTemplate: "arn:aws:iam:{account}:role/Audit"}, "want arn:<partition>:iam::<account>:role/<name>"},
		{org.RoleOptions{ARNTemplate: "arn:aws:iam::{account}:user/Audit"}, "want arn:"},
		{org.RoleOptions{Name: "bad name"}, "not an IAM role name"},
		{org.RoleOptions{Name: strings.Repeat("x", 65)}, "not an IAM role name"},
		{org.RoleOptions{SessionName: "a"}, "session name"},
		{org.RoleOptions{ARNTemplate: "arn:aws:iam::{account}:role/A", SessionName: "has space"}, "session name"},
	} {
		err := c.role.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.role, err, c.want)
		}
	}
}

func TestPartitions(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::123456789012:user/alice":        "aws",
		"arn:aws-cn:sts::123456789012:assumed-role/x": "aws-cn",
		"arn:aws-us-gov:iam::123456789012:root":       "aws-us-gov",
		"not an arn":                                  "",
	} {
		if got := org.PartitionFromARN(arn); got != want {
			t.Errorf("PartitionFromARN(%q) = %q, want %q", arn, got, want)
		}
	}
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-west-3": "aws", "cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn",
		"us-gov-west-1": "aws-us-gov", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "": "aws",
	} {
		if got := org.PartitionFromRegion(region); got != want {
			t.Errorf("PartitionFromRegion(%q) = %q, want %q", region, got, want)
		}
	}
}

// TestAccountConfig: the caller's own account keeps the caller's credentials; another account's
// credentials come from AssumeRole (lazily, once) in the partition of the base region.
func TestAccountConfig(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	srv.AddAccount("222222222222", "member", "")
	base := mgmtConfig(srv)
	ctx := ctxT(t)

	own, err := org.AccountConfig(base, srv.ManagementAccount(), srv.ManagementAccount(), org.RoleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := sts.NewFromConfig(own).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:iam::"+srv.ManagementAccount()+":user/admin"; got != want || len(srv.TotalCalls()) != 1 {
		t.Errorf("own account: caller %s (want %s), calls %v", got, want, srv.TotalCalls())
	}

	cfg, err := org.AccountConfig(base, "222222222222", srv.ManagementAccount(), org.RoleOptions{SessionName: "audit-run"})
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("222222222222")["AssumeRole"]; n != 0 {
		t.Errorf("AccountConfig assumed the role up front (%d calls)", n)
	}
	for range 3 {
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToString(id.Arn), "arn:aws:sts::222222222222:assumed-role/OrganizationAccountAccessRole/audit-run"; got != want {
			t.Errorf("caller %s, want %s", got, want)
		}
	}
	if n := srv.Calls("222222222222")["AssumeRole"]; n != 1 {
		t.Errorf("AssumeRole called %d times for 3 calls, want 1 (cached)", n)
	}

	// China: the role ARN is in aws-cn, which the fake accepts.
	cn := base.Copy()
	cn.Region = "cn-north-1"
	cfg, err = org.AccountConfig(cn, "222222222222", srv.ManagementAccount(), org.RoleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		t.Errorf("AssumeRole from cn-north-1: %v", err)
	}

	if _, err := org.AccountConfig(base, "12345", srv.ManagementAccount(), org.RoleOptions{}); err == nil {
		t.Error("AccountConfig accepted a bad account ID")
	}
	if _, err := org.AccountConfig(base, "222222222222", srv.ManagementAccount(), org.RoleOptions{ARNTemplate: "arn:aws:iam::{account}:user/x"}); err == nil {
		t.Error("AccountConfig accepted a bad template")
	}
}

// TestAccountConfigAssumeRoleDenied: the denial surfaces on the first call, naming the role.
func TestAccountConfigAssumeRoleDenied(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	srv.AddAccountConfig("222222222222", fakeaws.AccountConfig{Name: "locked", DenyAssumeRole: true})
	cfg, err := org.AccountConfig(mgmtConfig(srv), "222222222222", srv.ManagementAccount(), org.RoleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "role/OrganizationAccountAccessRole") {
		t.Errorf("err = %v", err)
	}
}

func TestShareHTTPClient(t *testing.T) {
	base := aws.Config{Region: "us-east-1"}
	cfg := org.ShareHTTPClient(base, 0)
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("HTTPClient is %T", cfg.HTTPClient)
	}
	if tr := bc.GetTransport(); tr.MaxIdleConnsPerHost != org.DefaultIdleConnsPerHost || tr.MaxIdleConns < org.DefaultIdleConnsPerHost {
		t.Errorf("idle conns per host %d, total %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
	}
	if base.HTTPClient != nil {
		t.Error("base changed")
	}
	// Every account's config carries the same client.
	a, _ := org.AccountConfig(cfg, "222222222222", "111111111111", org.RoleOptions{})
	if a.HTTPClient != cfg.HTTPClient {
		t.Error("AccountConfig dropped the shared client")
	}
	// A BuildableClient keeps its other settings; another client is left alone.
	custom := awshttp.NewBuildableClient().WithTimeout(7 * time.Second)
	cfg = org.ShareHTTPClient(aws.Config{HTTPClient: custom}, 33)
	bc = cfg.HTTPClient.(*awshttp.BuildableClient)
	if bc.GetTimeout() != 7*time.Second || bc.GetTransport().MaxIdleConnsPerHost != 33 {
		t.Errorf("timeout %s, idle %d", bc.GetTimeout(), bc.GetTransport().MaxIdleConnsPerHost)
	}
	other := &http.Client{}
	if cfg := org.ShareHTTPClient(aws.Config{HTTPClient: other}, 0); cfg.HTTPClient != other {
		t.Error("a plain http.Client was replaced")
	}
}
