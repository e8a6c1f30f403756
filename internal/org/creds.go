package org

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/lazyre"
)

// DefaultRoleName is the role AWS Organizations creates in every account it creates, trusted by
// the management account.
const DefaultRoleName = "OrganizationAccountAccessRole"

// DefaultSessionName names the role sessions, so CloudTrail in each account shows who audited it.
const DefaultSessionName = "setupkeys"

// RoleOptions say which role to assume in a member account and how.
type RoleOptions struct {
	// Name is the role's name (--role-name), with its path if any ("audit/Reader"). Default
	// DefaultRoleName. Ignored when ARNTemplate is set.
	Name string
	// ARNTemplate is the role's ARN with "{account}" for the account ID and, optionally,
	// "{partition}" (--role-arn-template), e.g. "arn:aws:iam::{account}:role/Audit".
	ARNTemplate string
	// ExternalID is passed to AssumeRole when set (--external-id).
	ExternalID string
	// SessionName is the role session's name; default DefaultSessionName.
	SessionName string
	// Partition is the ARN partition ("aws", "aws-cn", "aws-us-gov", ...). Default: the
	// partition of the base config's region. Set it from the caller's ARN (PartitionFromARN)
	// when it is known.
	Partition string
}

var (
	roleNameRE    = lazyre.New(`^([\x21-\x7e]+/)?[\w+=,.@-]{1,64}$`)
	sessionNameRE = lazyre.New(`^[\w+=,.@-]{2,64}$`)
	roleARNRE     = lazyre.New(`^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(.+)$`)
)

// Validate checks the options once, before any account is audited, so that a typo fails the run
// with one message instead of failing every account.
func (o RoleOptions) Validate() error {
	if o.ARNTemplate != "" {
		if !strings.Contains(o.ARNTemplate, "{account}") {
			return fmt.Errorf("--role-arn-template %q: put {account} where the account ID goes, e.g. arn:aws:iam::{account}:role/Audit", o.ARNTemplate)
		}
		if _, err := o.RoleARN("123456789012"); err != nil {
			return err
		}
	} else if o.Name != "" && !roleNameRE.MatchString(o.Name) {
		return fmt.Errorf("--role-name %q is not an IAM role name", o.Name)
	}
	if o.SessionName != "" && !sessionNameRE.MatchString(o.SessionName) {
		return fmt.Errorf("role session name %q: want 2 to 64 of letters, digits and +=,.@_-", o.SessionName)
	}
	return nil
}

// RoleARN is the ARN of the role to assume in account.
func (o RoleOptions) RoleARN(account string) (string, error) {
	partition := o.Partition
	if partition == "" {
		partition = "aws"
	}
	if o.ARNTemplate != "" {
		arn := strings.NewReplacer("{account}", account, "{partition}", partition).Replace(o.ARNTemplate)
		if m := roleARNRE.FindStringSubmatch(arn); m == nil || m[2] != account {
			return "", fmt.Errorf("--role-arn-template %q gives %q for account %s: want arn:<partition>:iam::<account>:role/<name>", o.ARNTemplate, arn, account)
		}
		return arn, nil
	}
	name := strings.Trim(o.Name, "/")
	if name == "" {
		name = DefaultRoleName
	}
	return "arn:" + partition + ":iam::" + account + ":role/" + name, nil
}

// PartitionFromARN is the partition of an ARN ("aws" in arn:aws:iam::...), or "" when arn is
// not an ARN.
func PartitionFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" {
		return ""
	}
	return parts[1]
}

// PartitionFromRegion is the partition a region belongs to.
func PartitionFromRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}

// AccountConfig returns the configuration that reaches account. The caller's own account
// (callerAccount, from sts:GetCallerIdentity) uses base as is: the management account is audited
// with the caller's credentials. Any other account gets base with credentials from
// sts:AssumeRole of the role in that account, cached and refreshed before they expire. The role
// is assumed on the first call, so an AccessDenied shows as that account's first call failing,
// and under that call's context: the account's deadline (--account-timeout) bounds it.
func AccountConfig(base aws.Config, account, callerAccount string, role RoleOptions) (aws.Config, error) {
	if account == callerAccount {
		return base, nil
	}
	if !setupkeys.ValidAccountID(account) {
		return aws.Config{}, fmt.Errorf("%q is not an AWS account ID", account)
	}
	if role.Partition == "" {
		role.Partition = PartitionFromRegion(base.Region)
	}
	arn, err := role.RoleARN(account)
	if err != nil {
		return aws.Config{}, err
	}
	session := role.SessionName
	if session == "" {
		session = DefaultSessionName
	}
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = session
		if role.ExternalID != "" {
			o.ExternalID = aws.String(role.ExternalID)
		}
	})
	cfg := base.Copy()
	cfg.Credentials = newAccountCredentials(accountCheck{provider, account, arn})
	return cfg, nil
}

// refreshBefore is how long before they expire an account's credentials are fetched again, so
// a call never starts with credentials that expire on its way.
const refreshBefore = time.Minute

// accountCredentials caches one account's assumed-role credentials. It is not
// aws.CredentialsCache because that one fetches under a context detached from the caller's (its
// fetch is shared by every caller, so no caller's cancellation may end it): the AssumeRole of an
// account whose deadline has passed would go on, bounded only by the call timeout. Here every
// caller is a call of the same account's audit, under the account's deadline, so the fetch runs
// under the context of the call that needs it, one at a time; a caller waiting for another's
// fetch gives up when its own context ends.
type accountCredentials struct {
	provider aws.CredentialsProvider
	turn     chan struct{} // held by the one fetching
	creds    atomic.Pointer[aws.Credentials]
}

func newAccountCredentials(p aws.CredentialsProvider) *accountCredentials {
	return &accountCredentials{provider: p, turn: make(chan struct{}, 1)}
}

func (c *accountCredentials) cached() (aws.Credentials, bool) {
	cr := c.creds.Load()
	if cr == nil || (cr.CanExpire && time.Until(cr.Expires) < refreshBefore) {
		return aws.Credentials{}, false
	}
	return *cr, true
}

func (c *accountCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if cr, ok := c.cached(); ok {
		return cr, nil
	}
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return aws.Credentials{}, fmt.Errorf("waiting for the role's credentials: %w", context.Cause(ctx))
	}
	defer func() { <-c.turn }()
	if cr, ok := c.cached(); ok {
		return cr, nil // fetched by the caller before
	}
	cr, err := c.provider.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	c.creds.Store(&cr)
	return cr, nil
}

// accountCheck refuses credentials for another account than the one asked for, so that a
// misconfigured role can never file one account's findings under another's ID.
type accountCheck struct {
	aws.CredentialsProvider
	account, roleARN string
}

func (c accountCheck) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return creds, err
	}
	if creds.AccountID != "" && creds.AccountID != c.account {
		return aws.Credentials{}, fmt.Errorf("assuming %s gave credentials for account %s, not %s", c.roleARN, creds.AccountID, c.account)
	}
	return creds, nil
}

// DefaultIdleConnsPerHost is how many keep-alive connections ShareHTTPClient keeps to one
// endpoint when asked for 0: enough for DefaultConcurrency accounts making a few calls each.
const DefaultIdleConnsPerHost = 8 * DefaultConcurrency

// ShareHTTPClient returns base with one HTTP client for every account's SDK clients, keeping up
// to idlePerHost keep-alive connections to each endpoint (0 means DefaultIdleConnsPerHost).
// Without it, each SDK client made from a config with no HTTPClient (what
// config.LoadDefaultConfig returns) builds its own transport: one connection pool per account and
// service, whose idle connections outlive the account's audit, so memory and sockets grow with the
// number of accounts; and the SDK's default of 10 idle connections per host makes a shared pool
// close and reopen connections when many accounts run at once. A base HTTPClient that is an
// *awshttp.BuildableClient (a custom CA bundle) keeps its settings.
func ShareHTTPClient(base aws.Config, idlePerHost int) aws.Config {
	if idlePerHost <= 0 {
		idlePerHost = DefaultIdleConnsPerHost
	}
	var client *awshttp.BuildableClient
	switch c := base.HTTPClient.(type) {
	case nil:
		client = awshttp.NewBuildableClient()
	case *awshttp.BuildableClient:
		client = c
	default:
		return base // the caller's own client: leave it alone
	}
	cfg := base.Copy()
	cfg.HTTPClient = client.WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = idlePerHost
		t.MaxIdleConns = max(t.MaxIdleConns, idlePerHost)
	})
	return cfg
}
