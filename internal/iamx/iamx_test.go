package iamx

import (
	"context"
	"errors"
	"fmt"
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
