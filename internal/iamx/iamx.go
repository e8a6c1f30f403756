// Package iamx holds the few IAM helpers that the live sources and remediation share, so that a
// user's keys are listed, and IAM's errors read, the same way everywhere.
package iamx

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys/internal/awscall"
)

// ErrorCode is the AWS error code of err ("NoSuchEntity", "Throttling"), or "" when err is not an
// AWS API error.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// CallError names the IAM call op (about subject, "" when the call says it) that failed with err,
// so that a message says the call once (awscall.Error).
func CallError(op, subject string, err error) error {
	return awscall.Error("iam", op, subject, err)
}

// IsNoSuchEntity reports IAM's "the user (or key) does not exist".
func IsNoSuchEntity(err error) bool { return err != nil && ErrorCode(err) == "NoSuchEntity" }

// ListAccessKeys returns every access key of user, through every page. The user name is always
// given: without it IAM lists the caller's own keys. onPage, when not nil, is called before each
// page is requested (to count calls). Errors are the SDK's, unwrapped: IsNoSuchEntity tells a
// user that is gone.
func ListAccessKeys(ctx context.Context, api iam.ListAccessKeysAPIClient, user string, onPage func()) ([]types.AccessKeyMetadata, error) {
	var keys []types.AccessKeyMetadata
	pages := iam.NewListAccessKeysPaginator(api, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		if onPage != nil {
			onPage()
		}
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		keys = append(keys, out.AccessKeyMetadata...)
	}
	return keys, nil
}
