package moto

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// CreateTopicWithQueue creates an SNS topic and an SQS queue subscribed to it, as a deployment's
// e-mail or chat subscriber would be, so a test can read what was published. moto delivers each
// publish to the queue at once, wrapped in SNS's JSON envelope (see ReceiveSNS).
func CreateTopicWithQueue(tb testing.TB, cfg aws.Config, name string) (topicARN, queueURL string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		tb.Fatalf("moto: sns CreateTopic: %v", err)
	}
	queueURL, queueARN := CreateQueue(tb, cfg, name)
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN)}); err != nil {
		tb.Fatalf("moto: sns Subscribe: %v", err)
	}
	return *topic.TopicArn, queueURL
}

// CreateQueue creates an SQS queue and returns its URL and ARN.
func CreateQueue(tb testing.TB, cfg aws.Config, name string) (url, arn string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	client := sqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		tb.Fatalf("moto: sqs CreateQueue: %v", err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		tb.Fatalf("moto: sqs GetQueueAttributes: %v", err)
	}
	return *q.QueueUrl, attrs.Attributes["QueueArn"]
}

// ReceiveAll drains the queue: every message body now in it, waiting at most wait for the first.
func ReceiveAll(tb testing.TB, cfg aws.Config, queueURL string, wait time.Duration) []string {
	tb.Helper()
	client := sqs.NewFromConfig(cfg)
	var bodies []string
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
		cancel()
		if err != nil {
			tb.Fatalf("moto: sqs ReceiveMessage: %v", err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
			cancel()
		}
		if len(out.Messages) == 0 && (len(bodies) > 0 || time.Now().After(deadline)) {
			return bodies
		}
		if len(out.Messages) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// ReceiveSNS drains a queue subscribed to a topic and returns each notification's Subject and
// Message.
func ReceiveSNS(tb testing.TB, cfg aws.Config, queueURL string, wait time.Duration) (subjects, messages []string) {
	tb.Helper()
	for _, body := range ReceiveAll(tb, cfg, queueURL, wait) {
		var env struct {
			Type    string `json:"Type"`
			Subject string `json:"Subject"`
			Message string `json:"Message"`
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil || env.Type != "Notification" {
			tb.Fatalf("moto: not an SNS notification (%v): %s", err, body)
		}
		subjects = append(subjects, env.Subject)
		messages = append(messages, env.Message)
	}
	return subjects, messages
}

// CreateTable creates a DynamoDB table keyed by the string attribute "id" (on demand).
func CreateTable(tb testing.TB, cfg aws.Config, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := dynamodb.NewFromConfig(cfg).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		tb.Fatalf("moto: dynamodb CreateTable: %v", err)
	}
}
