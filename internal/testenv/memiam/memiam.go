// Package memiam is an in-memory IAM and Organizations for tests that need no wire protocol:
// accounts of users with console passwords, keys and tags, served through the aws-sdk-go-v2
// method signatures (so *memiam.Client stands where an *iam.Client goes), with list calls that
// really page, IAM's error codes, and a hook to fail any call. The CLI tests reach it through
// the CLI Factory's AWS; tests of throttling, latency or the SDK's wire behaviour use fakeaws,
// and behaviour an emulator can check is checked against moto.
package memiam

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"
)

// Key is an access key.
type Key struct {
	ID      string
	Status  string // "Active" when empty
	Created time.Time
	// LastUsed is nil for a key never used.
	LastUsed        *time.Time
	LastUsedService string
	LastUsedRegion  string
}

// User is an IAM user. Console is true when it has a console password.
type User struct {
	Name    string
	Created time.Time
	Console bool
	Tags    map[string]string
	Keys    []Key
}

// Fake holds the accounts. Its methods are safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	accounts map[string]*account
	order    []string
	calls    map[string]int
	// fail, when set, decides per call whether to fail it instead (see Fail).
	fail func(account, action, user string) error
	// PageSize is how many items a list call returns at most (default 1, so that a caller
	// reading one page misses items).
	PageSize int
	// Now is the clock of the credential report's generation time (default time.Now).
	Now func() time.Time
	// Decide, when set, is SimulatePrincipalPolicy's decision for action ("allowed",
	// "implicitDeny", "explicitDeny"); unset, every action is allowed.
	Decide func(action string) string
}

type account struct {
	name   string
	denied bool // other accounts cannot assume a role in it
	users  []*User
}

// New returns an empty Fake.
func New() *Fake { return &Fake{accounts: map[string]*account{}, calls: map[string]int{}} }

// AddAccount adds an account of the organization named name.
func (f *Fake) AddAccount(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.accounts[id]; !ok {
		f.order = append(f.order, id)
	}
	f.accounts[id] = &account{name: name}
}

// DenyRole makes reaching account from any other account fail with AccessDenied, as when its
// role does not trust the caller.
func (f *Fake) DenyRole(id string, denied bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[id].denied = denied
}

// AddUser adds u to the account (which AddUser creates if needed).
func (f *Fake) AddUser(acct string, u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[acct]
	if a == nil {
		a = &account{}
		f.accounts[acct] = a
		f.order = append(f.order, acct)
	}
	u.Keys = slices.Clone(u.Keys)
	a.users = append(a.users, &u)
}

// RemoveUser deletes a user and its keys.
func (f *Fake) RemoveUser(acct, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[acct]
	a.users = slices.DeleteFunc(a.users, func(u *User) bool { return u.Name == name })
}

// Update changes a user in place.
func (f *Fake) Update(acct, name string, fn func(*User)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.userLocked(acct, name); u != nil {
		fn(u)
	}
}

// KeyStatus is the status of key id in the account, "" when there is no such key.
func (f *Fake) KeyStatus(acct, id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.accounts[acct].users {
		for _, k := range u.Keys {
			if k.ID == id {
				return status(k)
			}
		}
	}
	return ""
}

// Fail makes every call for which fn returns an error fail with it; nil lets all calls through.
// user is the call's user name, "" when it has none.
func (f *Fake) Fail(fn func(account, action, user string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// Calls is how many calls of action were made in the account.
func (f *Fake) Calls(acct, action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[acct+" "+action]
}

// APIError is an IAM error with code, as the SDK returns it.
func APIError(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

// Reach returns the IAM client of account acct as seen from the caller's account: AccessDenied
// when a role in it cannot be assumed, or when the account does not exist.
func (f *Fake) Reach(caller, acct string) (*Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[acct]
	if a == nil || (acct != caller && a.denied) {
		return nil, fmt.Errorf("sts AssumeRole into %s: %w", acct, APIError("AccessDenied", "not authorized to perform sts:AssumeRole"))
	}
	return &Client{f: f, account: acct}, nil
}

// Organizations is the organization's listing, every account added ACTIVE.
func (f *Fake) Organizations() *Organizations { return &Organizations{f: f} }

func status(k Key) string {
	if k.Status == "" {
		return "Active"
	}
	return k.Status
}

func (f *Fake) userLocked(acct, name string) *User {
	a := f.accounts[acct]
	if a == nil {
		return nil
	}
	for _, u := range a.users {
		if u.Name == name {
			return u
		}
	}
	return nil
}

func (f *Fake) pageSize() int {
	if f.PageSize <= 0 {
		return 1
	}
	return f.PageSize
}

// page returns items from marker on, at most size of them, and the next marker ("" at the end).
func page[T any](items []T, marker *string, size int) ([]T, *string) {
	start := 0
	if marker != nil {
		start, _ = strconv.Atoi(*marker)
	}
	start = min(start, len(items))
	end := min(start+size, len(items))
	if end < len(items) {
		return items[start:end], aws.String(strconv.Itoa(end))
	}
	return items[start:end], nil
}

// Client is one account's IAM.
type Client struct {
	f       *Fake
	account string
}

func arn(acct, user string) string { return "arn:aws:iam::" + acct + ":user/" + user }

// enter counts the call, runs the failure hook and locks the fake; the caller unlocks.
func (c *Client) enter(action, user string) error {
	c.f.mu.Lock()
	c.f.calls[c.account+" "+action]++
	fail := c.f.fail
	c.f.mu.Unlock()
	if fail != nil {
		if err := fail(c.account, action, user); err != nil {
			return err
		}
	}
	c.f.mu.Lock()
	return nil
}

func noSuchUser(name string) error {
	return APIError("NoSuchEntity", "The user with name "+name+" cannot be found.")
}

func (c *Client) user(name *string) (*User, error) {
	u := c.f.userLocked(c.account, aws.ToString(name))
	if u == nil {
		return nil, noSuchUser(aws.ToString(name))
	}
	return u, nil
}

func (c *Client) iamUser(u *User) iamtypes.User {
	return iamtypes.User{UserName: aws.String(u.Name), Arn: aws.String(arn(c.account, u.Name)), UserId: aws.String("AIDA" + strings.ToUpper(u.Name)), Path: aws.String("/"), CreateDate: aws.Time(u.Created)}
}

func (c *Client) ListUsers(_ context.Context, in *iam.ListUsersInput, _ ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	if err := c.enter("ListUsers", ""); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	var all []iamtypes.User
	for _, u := range c.f.accounts[c.account].users {
		all = append(all, c.iamUser(u))
	}
	items, next := page(all, in.Marker, c.f.pageSize())
	return &iam.ListUsersOutput{Users: items, IsTruncated: next != nil, Marker: next}, nil
}

func (c *Client) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	if err := c.enter("GetUser", aws.ToString(in.UserName)); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	u, err := c.user(in.UserName)
	if err != nil {
		return nil, err
	}
	iu := c.iamUser(u)
	return &iam.GetUserOutput{User: &iu}, nil
}

func (c *Client) GetLoginProfile(_ context.Context, in *iam.GetLoginProfileInput, _ ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	if err := c.enter("GetLoginProfile", aws.ToString(in.UserName)); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	u, err := c.user(in.UserName)
	if err != nil {
		return nil, err
	}
	if !u.Console {
		return nil, APIError("NoSuchEntity", "Login Profile for User "+u.Name+" cannot be found.")
	}
	return &iam.GetLoginProfileOutput{LoginProfile: &iamtypes.LoginProfile{UserName: aws.String(u.Name), CreateDate: aws.Time(u.Created)}}, nil
}

func (c *Client) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	if err := c.enter("ListAccessKeys", aws.ToString(in.UserName)); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	u, err := c.user(in.UserName)
	if err != nil {
		return nil, err
	}
	var all []iamtypes.AccessKeyMetadata
	for _, k := range u.Keys {
		all = append(all, iamtypes.AccessKeyMetadata{AccessKeyId: aws.String(k.ID), UserName: aws.String(u.Name), Status: iamtypes.StatusType(status(k)), CreateDate: aws.Time(k.Created)})
	}
	items, next := page(all, in.Marker, c.f.pageSize())
	return &iam.ListAccessKeysOutput{AccessKeyMetadata: items, IsTruncated: next != nil, Marker: next}, nil
}

// key finds key id in the account.
func (c *Client) key(id string) (*User, *Key) {
	for _, u := range c.f.accounts[c.account].users {
		for i := range u.Keys {
			if u.Keys[i].ID == id {
				return u, &u.Keys[i]
			}
		}
	}
	return nil, nil
}

func (c *Client) GetAccessKeyLastUsed(_ context.Context, in *iam.GetAccessKeyLastUsedInput, _ ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	id := aws.ToString(in.AccessKeyId)
	if err := c.enter("GetAccessKeyLastUsed", ""); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	u, k := c.key(id)
	if k == nil {
		return nil, APIError("AccessDenied", "the key "+id+" does not exist or is not yours")
	}
	lu := &iamtypes.AccessKeyLastUsed{ServiceName: aws.String("N/A"), Region: aws.String("N/A")}
	if k.LastUsed != nil {
		lu = &iamtypes.AccessKeyLastUsed{LastUsedDate: aws.Time(*k.LastUsed), ServiceName: aws.String(k.LastUsedService), Region: aws.String(k.LastUsedRegion)}
	}
	return &iam.GetAccessKeyLastUsedOutput{UserName: aws.String(u.Name), AccessKeyLastUsed: lu}, nil
}

// ownKey is key id of the named user, or IAM's error.
func (c *Client) ownKey(user *string, id *string) (*Key, error) {
	u, err := c.user(user)
	if err != nil {
		return nil, err
	}
	for i := range u.Keys {
		if u.Keys[i].ID == aws.ToString(id) {
			return &u.Keys[i], nil
		}
	}
	return nil, APIError("NoSuchEntity", "The Access Key with id "+aws.ToString(id)+" cannot be found.")
}

func (c *Client) UpdateAccessKey(_ context.Context, in *iam.UpdateAccessKeyInput, _ ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	if err := c.enter("UpdateAccessKey", aws.ToString(in.UserName)); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	k, err := c.ownKey(in.UserName, in.AccessKeyId)
	if err != nil {
		return nil, err
	}
	k.Status = string(in.Status)
	return &iam.UpdateAccessKeyOutput{}, nil
}

func (c *Client) DeleteAccessKey(_ context.Context, in *iam.DeleteAccessKeyInput, _ ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	if err := c.enter("DeleteAccessKey", aws.ToString(in.UserName)); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	if _, err := c.ownKey(in.UserName, in.AccessKeyId); err != nil {
		return nil, err
	}
	u, _ := c.user(in.UserName)
	u.Keys = slices.DeleteFunc(u.Keys, func(k Key) bool { return k.ID == aws.ToString(in.AccessKeyId) })
	return &iam.DeleteAccessKeyOutput{}, nil
}

func (c *Client) ListUserTags(_ context.Context, in *iam.ListUserTagsInput, _ ...func(*iam.Options)) (*iam.ListUserTagsOutput, error) {
	if err := c.enter("ListUserTags", aws.ToString(in.UserName)); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	u, err := c.user(in.UserName)
	if err != nil {
		return nil, err
	}
	var all []iamtypes.Tag
	for _, k := range slices.Sorted(mapKeys(u.Tags)) {
		all = append(all, iamtypes.Tag{Key: aws.String(k), Value: aws.String(u.Tags[k])})
	}
	items, next := page(all, in.Marker, c.f.pageSize())
	return &iam.ListUserTagsOutput{Tags: items, IsTruncated: next != nil, Marker: next}, nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// GenerateCredentialReport answers COMPLETE at once: the report is made from the state at each
// GetCredentialReport.
func (c *Client) GenerateCredentialReport(_ context.Context, _ *iam.GenerateCredentialReportInput, _ ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	if err := c.enter("GenerateCredentialReport", ""); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	return &iam.GenerateCredentialReportOutput{State: iamtypes.ReportStateTypeComplete}, nil
}

// reportHeader is the credential report's 22 columns in AWS's order.
const reportHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

func reportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

// GetCredentialReport is the report of the account as it is now, in AWS's format: the keys in
// the order they were added, at most two.
func (c *Client) GetCredentialReport(_ context.Context, _ *iam.GetCredentialReportInput, _ ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	if err := c.enter("GetCredentialReport", ""); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	var b bytes.Buffer
	b.WriteString(reportHeader + "\n")
	for _, u := range c.f.accounts[c.account].users {
		password := "false"
		if u.Console {
			password = "true"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,N/A,N/A,N/A,false", u.Name, arn(c.account, u.Name), reportTime(u.Created), password)
		for i := range 2 {
			if i >= len(u.Keys) {
				b.WriteString(",false,N/A,N/A,N/A,N/A")
				continue
			}
			k := u.Keys[i]
			used, region, service := "N/A", "N/A", "N/A"
			if k.LastUsed != nil {
				used, region, service = reportTime(*k.LastUsed), k.LastUsedRegion, k.LastUsedService
			}
			fmt.Fprintf(&b, ",%t,%s,%s,%s,%s", status(k) == "Active", reportTime(k.Created), used, region, service)
		}
		b.WriteString(",false,N/A,false,N/A\n")
	}
	now := time.Now
	if c.f.Now != nil {
		now = c.f.Now
	}
	return &iam.GetCredentialReportOutput{Content: b.Bytes(), ReportFormat: iamtypes.ReportFormatTypeTextCsv, GeneratedTime: aws.Time(now().UTC().Truncate(time.Second))}, nil
}

// SimulatePrincipalPolicy decides each action asked about with Fake.Decide, allowing all
// without it.
func (c *Client) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	if err := c.enter("SimulatePrincipalPolicy", ""); err != nil {
		return nil, err
	}
	defer c.f.mu.Unlock()
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		decision := iamtypes.PolicyEvaluationDecisionTypeAllowed
		if c.f.Decide != nil {
			decision = iamtypes.PolicyEvaluationDecisionType(c.f.Decide(a))
		}
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: decision})
	}
	return out, nil
}

// Organizations lists the fake's accounts.
type Organizations struct{ f *Fake }

func (o *Organizations) accounts() []orgtypes.Account {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	var out []orgtypes.Account
	for _, id := range o.f.order {
		a := o.f.accounts[id]
		out = append(out, orgtypes.Account{Id: aws.String(id), Name: aws.String(a.name), Status: orgtypes.AccountStatusActive, State: orgtypes.AccountStateActive,
			Arn: aws.String("arn:aws:organizations::" + o.f.order[0] + ":account/o-memiam/" + id)})
	}
	return out
}

func (o *Organizations) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	items, next := page(o.accounts(), in.NextToken, o.f.pageSize())
	return &organizations.ListAccountsOutput{Accounts: items, NextToken: next}, nil
}

// ListAccountsForParent puts every account under every parent: the fake has no OUs.
func (o *Organizations) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	items, next := page(o.accounts(), in.NextToken, o.f.pageSize())
	return &organizations.ListAccountsForParentOutput{Accounts: items, NextToken: next}, nil
}

func (o *Organizations) ListOrganizationalUnitsForParent(context.Context, *organizations.ListOrganizationalUnitsForParentInput, ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	return &organizations.ListOrganizationalUnitsForParentOutput{}, nil
}
