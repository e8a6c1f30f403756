package moto

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The seeding helpers go through the real SDK, as a person setting up a user
// in the console or CLI would, so the state they leave is whatever moto makes
// of those calls, not a hand-built fixture. They take the aws.Config of the
// account to seed (Server.Config) and fail the test on any error.

// consolePassword satisfies IAM's default password policy; moto does not
// check it, AWS would.
const consolePassword = "Moto-Harness-Passw0rd!"

// CreateConsoleUser creates a user with a console password (CreateUser, then
// CreateLoginProfile): the users the audit rule looks at, since it skips
// users whose password is off.
func CreateConsoleUser(tb testing.TB, cfg aws.Config, name string) types.User {
	tb.Helper()
	user := CreateProgrammaticUser(tb, cfg, name)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := iam.NewFromConfig(cfg).CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{
		UserName: aws.String(name),
		Password: aws.String(consolePassword),
	})
	if err != nil {
		tb.Fatalf("moto: CreateLoginProfile(%s): %v", name, err)
	}
	return user
}

// CreateProgrammaticUser creates a user without a console password
// (CreateUser only): the rule must skip it whatever its keys.
func CreateProgrammaticUser(tb testing.TB, cfg aws.Config, name string) types.User {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out, err := iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		tb.Fatalf("moto: CreateUser(%s): %v", name, err)
	}
	return *out.User
}

// CreateAccessKey creates an access key for user and returns it with its
// secret, which UseKey needs. The key starts Active and never used.
func CreateAccessKey(tb testing.TB, cfg aws.Config, user string) types.AccessKey {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out, err := iam.NewFromConfig(cfg).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		tb.Fatalf("moto: CreateAccessKey(%s): %v", user, err)
	}
	return *out.AccessKey
}

// UseKey makes one request signed with key (sts GetCallerIdentity, which
// needs no permission in AWS either), so moto records the key's last use:
// moto stamps LastUsedDate (at its current, possibly moved, clock),
// ServiceName "sts" and Region us-east-1 on any request whose Authorization
// names a key it issued. It is a Server method because only the endpoint is
// needed: the key itself tells moto which account it belongs to.
func (s *Server) UseKey(tb testing.TB, key types.AccessKey) {
	tb.Helper()
	cfg := aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(s.url),
		Credentials: credentials.NewStaticCredentialsProvider(
			aws.ToString(key.AccessKeyId), aws.ToString(key.SecretAccessKey), ""),
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		tb.Fatalf("moto: UseKey(%s): sts GetCallerIdentity: %v", aws.ToString(key.AccessKeyId), err)
	}
}
