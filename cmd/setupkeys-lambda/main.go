// Command setupkeys-lambda is the Lambda function behind the EventBridge rule on IAM's
// CreateAccessKey and CreateLoginProfile: it judges the user live with the audit's key check and
// rule and reports, deactivates, or schedules a re-check (internal/watch). Build it for the
// provided.al2023 runtime as:
//
//	GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./cmd/setupkeys-lambda
//
// Configuration is the environment: SETUPKEYS_ACTION, SETUPKEYS_TOPIC_ARN, SETUPKEYS_WINDOW,
// SETUPKEYS_GRACE, SETUPKEYS_DEDUPE_TABLE, SETUPKEYS_SCHEDULER_ROLE_ARN, SETUPKEYS_SCHEDULE_GROUP.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/watch"
)

func main() {
	cfg, err := watch.ConfigFromEnv(os.Getenv)
	if err != nil {
		// Exiting during init makes the runtime report an init error: the deployment sees it at
		// once instead of events being dropped.
		fmt.Fprintln(os.Stderr, "setupkeys-lambda: configuration:", err)
		os.Exit(1)
	}
	awsCfg, err := awsconfig.Load(context.Background(), awsconfig.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "setupkeys-lambda:", err)
		os.Exit(1)
	}
	h := &watch.Handler{
		Config:    cfg,
		IAM:       iam.NewFromConfig(awsCfg),
		SNS:       sns.NewFromConfig(awsCfg),
		Dedupe:    dynamodb.NewFromConfig(awsCfg),
		Scheduler: scheduler.NewFromConfig(awsCfg),
		Journal:   os.Stdout,
		Now:       time.Now,
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (watch.Outcome, error) {
		var functionARN string
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			functionARN = lc.InvokedFunctionArn
		}
		return h.Handle(ctx, payload, functionARN)
	})
}
