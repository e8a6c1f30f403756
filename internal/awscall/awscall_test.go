package awscall

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/smithy-go"
)

func TestError(t *testing.T) {
	sdk := &smithy.OperationError{ServiceID: "SecurityHub", OperationName: "GetFindings", Err: errors.New("AccessDenied")}
	cases := []struct {
		name, service, op, subject string
		err                        error
		want                       string
	}{
		{"SDK error, no subject: as it is", "securityhub", "GetFindings", "", sdk, "operation error SecurityHub: GetFindings, AccessDenied"},
		{"SDK error with a subject: the subject only", "scheduler", "CreateSchedule", "s1", sdk, "s1: operation error SecurityHub: GetFindings, AccessDenied"},
		{"other error: the call named", "cloudtrail", "LookupEvents", "", context.DeadlineExceeded, "cloudtrail LookupEvents: context deadline exceeded"},
		{"other error with a subject", "dynamodb", "PutItem", "table", errors.New("boom"), "dynamodb PutItem table: boom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Error(c.service, c.op, c.subject, c.err)
			if got.Error() != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if !errors.Is(got, c.err) {
				t.Errorf("%q does not wrap the error", got)
			}
		})
	}
}
