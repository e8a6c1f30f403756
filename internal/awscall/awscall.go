// Package awscall names a failed AWS call in an error once. The SDK's errors already start
// "operation error Service: Op"; prefixing them again with the call made messages say it twice.
package awscall

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// Error wraps err, from call op of service ("iam", "securityhub"), about subject ("" for none):
// an SDK error gets only the subject, as it names the call; any other error (a fake's, a
// context's, a paginator's) gets "service op subject".
func Error(service, op, subject string, err error) error {
	var opErr *smithy.OperationError
	switch {
	case errors.As(err, &opErr) && subject == "":
		return err
	case errors.As(err, &opErr):
		return fmt.Errorf("%s: %w", subject, err)
	case subject == "":
		return fmt.Errorf("%s %s: %w", service, op, err)
	}
	return fmt.Errorf("%s %s %s: %w", service, op, subject, err)
}
