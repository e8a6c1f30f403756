package remediate

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Stage is a point in one key's processing where a test stops the run, as a crash or a kill
// would. The stop happens in the IAM client the run is given (StopAt), so production code has
// no test hooks.
type Stage string

const (
	// StageBeforeCheck: before the key is re-checked (its user's first ListAccessKeys).
	StageBeforeCheck Stage = "before-check"
	// StageAfterIntent: the intent entry is on disk, the IAM write not sent.
	StageAfterIntent Stage = "after-intent"
	// StageAfterCall: IAM carried out the write; its answer has not reached the run.
	StageAfterCall Stage = "after-call"
)

// StopAt is an IAM client that calls Stop at Stage for the key KeyID of User, and otherwise
// passes every call to IAM. Stop may panic (errCrash, see crashed), block until the process
// is killed, or return to let the run go on.
type StopAt struct {
	IAM
	Stage       Stage
	User, KeyID string
	Stop        func()
	checked     bool
}

var _ IAM = (*StopAt)(nil)

func (s *StopAt) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	if s.Stage == StageBeforeCheck && aws.ToString(in.UserName) == s.User && !s.checked {
		s.checked = true
		s.Stop()
	}
	return s.IAM.ListAccessKeys(ctx, in, opts...)
}

func (s *StopAt) UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	mine := aws.ToString(in.AccessKeyId) == s.KeyID
	if mine && s.Stage == StageAfterIntent {
		s.Stop()
	}
	out, err := s.IAM.UpdateAccessKey(ctx, in, opts...)
	if mine && err == nil && s.Stage == StageAfterCall {
		s.Stop()
	}
	return out, err
}

func (s *StopAt) DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, opts ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	mine := aws.ToString(in.AccessKeyId) == s.KeyID
	if mine && s.Stage == StageAfterIntent {
		s.Stop()
	}
	out, err := s.IAM.DeleteAccessKey(ctx, in, opts...)
	if mine && err == nil && s.Stage == StageAfterCall {
		s.Stop()
	}
	return out, err
}

// errCrash stands for the process dying.
var errCrash = errors.New("simulated crash")

// Crash is a Stop that ends the run on the spot, writing nothing more, as the process dying
// would.
func Crash() { panic(errCrash) }

// Crashed runs f and reports whether it crashed (Crash).
func Crashed(f func()) (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if r != errCrash {
				panic(r)
			}
			crashed = true
		}
	}()
	f()
	return false
}

// crashAt returns the world's IAM, crashing at stage for user i's planned key.
func (w *world) crashAt(stage Stage, i int) *StopAt {
	return &StopAt{IAM: w.iam, Stage: stage, User: userName(i), KeyID: key(i), Stop: Crash}
}
