package source

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Names of the IAM actions the live sources call, as the tests count them.
const (
	ActionGenerateCredentialReport = "GenerateCredentialReport"
	ActionGetCredentialReport      = "GetCredentialReport"
	ActionListUsers                = "ListUsers"
	ActionGetLoginProfile          = "GetLoginProfile"
	ActionGetUser                  = "GetUser"
	ActionListAccessKeys           = "ListAccessKeys"
	ActionGetAccessKeyLastUsed     = "GetAccessKeyLastUsed"
)

// liveAPI is every call the live sources make.
type liveAPI interface {
	ReportAPI
	ListUsers(ctx context.Context, params *iam.ListUsersInput, optFns ...func(*iam.Options)) (*iam.ListUsersOutput, error)
}

var (
	_ liveAPI  = (*iam.Client)(nil)
	_ liveAPI  = (*countingIAM)(nil)
	_ ExactAPI = (*countingIAM)(nil)
)

// countingIAM passes every call to api and counts it by action (one per request asked of the SDK;
// its own retries are not counted). Safe for concurrent use.
type countingIAM struct {
	api liveAPI
	mu  sync.Mutex
	n   map[string]int
}

func counting(api liveAPI) *countingIAM { return &countingIAM{api: api, n: map[string]int{}} }

func (c *countingIAM) add(action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[action]++
}

// Get returns how many calls of action were made.
func (c *countingIAM) Get(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[action]
}

// String lists the counts by action name: "GetCredentialReport=1 ListAccessKeys=3".
func (c *countingIAM) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.n[k]))
	}
	return strings.Join(parts, " ")
}

func (c *countingIAM) GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, o ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	c.add(ActionGenerateCredentialReport)
	return c.api.GenerateCredentialReport(ctx, in, o...)
}

func (c *countingIAM) GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, o ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	c.add(ActionGetCredentialReport)
	return c.api.GetCredentialReport(ctx, in, o...)
}

func (c *countingIAM) ListUsers(ctx context.Context, in *iam.ListUsersInput, o ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	c.add(ActionListUsers)
	return c.api.ListUsers(ctx, in, o...)
}

func (c *countingIAM) GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, o ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	c.add(ActionGetLoginProfile)
	return c.api.GetLoginProfile(ctx, in, o...)
}

func (c *countingIAM) GetUser(ctx context.Context, in *iam.GetUserInput, o ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	c.add(ActionGetUser)
	return c.api.GetUser(ctx, in, o...)
}

func (c *countingIAM) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, o ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	c.add(ActionListAccessKeys)
	return c.api.ListAccessKeys(ctx, in, o...)
}

func (c *countingIAM) GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, o ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	c.add(ActionGetAccessKeyLastUsed)
	return c.api.GetAccessKeyLastUsed(ctx, in, o...)
}
