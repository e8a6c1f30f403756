package iamx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// pagedKeys serves one key per page, as a real paginating API would.
type pagedKeys struct {
	keys  []string
	users []string
	err   error
}

func (p *pagedKeys) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	p.users = append(p.users, aws.ToString(in.UserName))
	if p.err != nil {
		return nil, p.err
	}
	i := 0
	if in.Marker != nil {
		fmt.Sscan(*in.Marker, &i)
	}
	out := &iam.ListAccessKeysOutput{AccessKeyMetadata: []types.AccessKeyMetadata{{AccessKeyId: aws.String(p.keys[i])}}}
	if i+1 < len(p.keys) {
		out.IsTruncated = true
		out.Marker = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

func TestListAccessKeys(t *testing.T) {
	api := &pagedKeys{keys: []string{"AKIA1", "AKIA2"}}
	pages := 0
	keys, err := ListAccessKeys(context.Background(), api, "alice", func() { pages++ })
	if err != nil || len(keys) != 2 || aws.ToString(keys[1].AccessKeyId) != "AKIA2" || pages != 2 {
		t.Fatalf("keys %v, pages %d, err %v", keys, pages, err)
	}
	for _, u := range api.users {
		if u != "alice" {
			t.Errorf("a page was asked without the user name: %q", u)
		}
	}
	gone := &pagedKeys{err: &types.NoSuchEntityException{Message: aws.String("no user")}}
	if _, err := ListAccessKeys(context.Background(), gone, "bob", nil); !IsNoSuchEntity(err) {
		t.Errorf("err %v is not NoSuchEntity", err)
	}
}

func TestErrorCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code string
	}{
		{&types.NoSuchEntityException{}, "NoSuchEntity"},
		{fmt.Errorf("wrapped: %w", &smithy.GenericAPIError{Code: "Throttling"}), "Throttling"},
		{errors.New("plain"), ""},
		{nil, ""},
	} {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
	}
	if IsNoSuchEntity(nil) || !IsNoSuchEntity(&types.NoSuchEntityException{}) {
		t.Error("IsNoSuchEntity")
	}
}

// A message names the failed call once: the SDK's errors already do, others get it added.
func TestCallError(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}
	sdk := &smithy.OperationError{ServiceID: "IAM", OperationName: "GetUser", Err: denied}
	tests := []struct {
		name, op, subject string
		err               error
		want              string
	}{
		{"SDK error", "GetUser", "", sdk, "operation error IAM: GetUser, api error AccessDenied: no"},
		{"SDK error about a key", "GetUser", "AKIA****", sdk, "AKIA****: operation error IAM: GetUser, api error AccessDenied: no"},
		{"bare API error", "GetUser", "", denied, "iam GetUser: api error AccessDenied: no"},
		{"bare API error about a key", "GetAccessKeyLastUsed", "AKIA****", denied, "iam GetAccessKeyLastUsed AKIA****: api error AccessDenied: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CallError(tt.op, tt.subject, tt.err)
			if got.Error() != tt.want || !errors.Is(got, tt.err) {
				t.Errorf("got %q, want %q wrapping the cause", got, tt.want)
			}
			if n := strings.Count(got.Error(), tt.op); n != 1 {
				t.Errorf("%q names %s %d times", got, tt.op, n)
			}
		})
	}
}
