package deploy

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

func TestMain(m *testing.M) { moto.Main(m) }

// TestTemplatesPassCfnLint lints every template. cfn-lint missing is a failure, not a skip.
func TestTemplatesPassCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint not found (pip install cfn-lint): %v", err)
	}
	templates, _ := filepath.Glob("*.yaml")
	if len(templates) != 3 {
		t.Fatalf("templates %v, want setupkeys.yaml, central.yaml, org-stackset.yaml", templates)
	}
	for _, tmpl := range templates {
		out, err := exec.Command(lint, "--", tmpl).CombinedOutput()
		if err != nil {
			t.Errorf("cfn-lint %s: %v\n%s", tmpl, err, out)
		}
	}
}

// TestRulePatternInEventBridge routes events through moto's EventBridge with the template's
// pattern to an SQS target: CreateAccessKey and CreateLoginProfile match; other IAM calls, IAM
// events of another type and S3 events do not.
func TestRulePatternInEventBridge(t *testing.T) {
	pattern, err := EventPattern()
	if err != nil {
		t.Fatal(err)
	}
	patternJSON, _ := json.Marshal(pattern)
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	queueURL, queueARN := moto.CreateQueue(t, cfg, "rule-target")
	eb := eventbridge.NewFromConfig(cfg)
	ctx := context.Background()
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("setupkeys-iam-events"), EventPattern: aws.String(string(patternJSON))}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("setupkeys-iam-events"), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(queueARN)}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	apiCall := "AWS API Call via CloudTrail"
	s3Put := trailgen.Base("PutObject", "s3.amazonaws.com", now)
	entries := []struct {
		name, source, detailType string
		detail                   trailgen.Record
		match                    bool
	}{
		{"CreateAccessKey", "aws.iam", apiCall, trailgen.CreateAccessKey("alice", "AKIAEXAMPLEALICEKEY1", now), true},
		{"CreateLoginProfile", "aws.iam", apiCall, trailgen.CreateLoginProfile("alice", now), true},
		{"CreateUser", "aws.iam", apiCall, trailgen.CreateUser("alice", now), false},
		{"DeleteAccessKey", "aws.iam", apiCall, trailgen.KeyCall("DeleteAccessKey", "alice", "AKIAEXAMPLEALICEKEY1", "", now), false},
		{"S3 PutObject", "aws.s3", apiCall, s3Put, false},
		{"CreateAccessKey, other detail-type", "aws.iam", "AWS Console Sign In via CloudTrail", trailgen.CreateAccessKey("bob", "AKIAEXAMPLEBOBKEY001", now), false},
	}
	for _, e := range entries {
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String(e.source), DetailType: aws.String(e.detailType), Detail: aws.String(string(trailgen.JSON(e.detail))),
		}}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("%s: PutEvents: %v %+v", e.name, err, out)
		}
	}
	got := map[string]int{}
	for _, body := range moto.ReceiveAll(t, cfg, queueURL, 5*time.Second) {
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				EventName string `json:"eventName"`
			} `json:"detail"`
		}
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		got[ev.Detail.EventName+"/"+ev.DetailType]++
	}
	want := map[string]int{"CreateAccessKey/" + apiCall: 1, "CreateLoginProfile/" + apiCall: 1}
	if len(got) != len(want) || got["CreateAccessKey/"+apiCall] != 1 || got["CreateLoginProfile/"+apiCall] != 1 {
		t.Errorf("routed %v, want %v", got, want)
	}
	if !strings.Contains(string(patternJSON), `"iam.amazonaws.com"`) {
		t.Errorf("pattern %s", patternJSON)
	}
}
