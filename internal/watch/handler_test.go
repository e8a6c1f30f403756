package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

func TestMain(m *testing.M) { moto.Main(m) }

// env is one test's moto account with a topic (and a queue subscribed to it) and a dedupe table.
type env struct {
	srv      *moto.Server
	cfg      aws.Config
	topicARN string
	queueURL string
	journal  *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	topic, queue := moto.CreateTopicWithQueue(t, cfg, "setupkeys-findings")
	moto.CreateTable(t, cfg, "setupkeys-dedupe")
	return &env{srv: srv, cfg: cfg, topicARN: topic, queueURL: queue, journal: &bytes.Buffer{}}
}

func (e *env) handler(c Config) *Handler {
	if c.Window == 0 {
		c.Window = rule.DefaultWindow
	}
	if c.ScheduleGroup == "" {
		c.ScheduleGroup = "default"
	}
	c.DedupeTable = "setupkeys-dedupe"
	return &Handler{
		Config: c, IAM: iam.NewFromConfig(e.cfg), SNS: sns.NewFromConfig(e.cfg), Dedupe: dynamodb.NewFromConfig(e.cfg),
		Scheduler: scheduler.NewFromConfig(e.cfg), Journal: e.journal, Now: time.Now,
	}
}

// setupKey makes a console user with a key in moto and returns the CreateAccessKey event
// EventBridge would deliver for it, in CloudTrail's recorded shape.
func setupKey(t *testing.T, cfg aws.Config, user string) (keyID string, event []byte) {
	moto.CreateConsoleUser(t, cfg, user)
	k := moto.CreateAccessKey(t, cfg, user)
	return *k.AccessKeyId, trailgen.EventBridge(trailgen.CreateAccessKey(user, *k.AccessKeyId, k.CreateDate.UTC()))
}

func keyStatus(t *testing.T, cfg aws.Config, user, id string) iamtypes.StatusType {
	out, err := iam.NewFromConfig(cfg).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range out.AccessKeyMetadata {
		if *k.AccessKeyId == id {
			return k.Status
		}
	}
	return "gone"
}

func TestReportPublishesOnce(t *testing.T) {
	e := newEnv(t)
	id, event := setupKey(t, e.cfg, "alice")
	h := e.handler(Config{Action: ActionReport, TopicARN: e.topicARN})
	for i := 0; i < 2; i++ { // EventBridge delivers at least once: the same event twice
		out, err := h.Handle(context.Background(), event, "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (len(out.Actions) != 1 || !strings.Contains(out.Actions[0], "reported")) {
			t.Errorf("outcome %+v", out)
		}
	}
	subjects, messages := moto.ReceiveSNS(t, e.cfg, e.queueURL, 5*time.Second)
	if len(messages) != 1 {
		t.Fatalf("%d messages, want 1 for a repeated event: %v", len(messages), messages)
	}
	var msg Message
	if err := json.Unmarshal([]byte(messages[0]), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Finding.AccessKeyID == nil || *msg.Finding.AccessKeyID != id || msg.Finding.Status != "fail" || msg.Finding.ARN != "arn:aws:iam::123456789012:user/alice" {
		t.Errorf("finding %+v", msg.Finding)
	}
	if !strings.Contains(msg.Summary, id) || strings.Contains(msg.Summary, "\n") || !strings.Contains(subjects[0], "alice") {
		t.Errorf("summary %q, subject %q", msg.Summary, subjects[0])
	}
	if keyStatus(t, e.cfg, "alice", id) != iamtypes.StatusTypeActive {
		t.Error("report mode changed the key")
	}
	if !strings.Contains(e.journal.String(), `"action":"publish","outcome":"duplicate"`) {
		t.Errorf("journal does not record the duplicate:\n%s", e.journal)
	}
}

func TestDeactivateAtOnce(t *testing.T) {
	e := newEnv(t)
	id, event := setupKey(t, e.cfg, "alice")
	h := e.handler(Config{Action: ActionDeactivate, TopicARN: e.topicARN})
	for i := 0; i < 2; i++ {
		if _, err := h.Handle(context.Background(), event, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := keyStatus(t, e.cfg, "alice", id); got != iamtypes.StatusTypeInactive {
		t.Errorf("key %s, want Inactive", got)
	}
	j := e.journal.String()
	if strings.Count(j, `"action":"deactivate","outcome":"done"`) != 1 || strings.Count(j, `"action":"deactivate","outcome":"started"`) != 1 {
		t.Errorf("want one deactivation journalled (started, done):\n%s", j)
	}
	if _, messages := moto.ReceiveSNS(t, e.cfg, e.queueURL, 5*time.Second); len(messages) != 1 || !strings.Contains(messages[0], `"action":"deactivated"`) {
		t.Errorf("messages %v, want one saying deactivated", messages)
	}
}

func TestKeyHoursAfterUserLeftAlone(t *testing.T) {
	e := newEnv(t)
	e.srv.InPast(t, 5*time.Hour, func() { moto.CreateConsoleUser(t, e.cfg, "bob") })
	k := moto.CreateAccessKey(t, e.cfg, "bob")
	event := trailgen.EventBridge(trailgen.CreateAccessKey("bob", *k.AccessKeyId, k.CreateDate.UTC()))
	out, err := e.handler(Config{Action: ActionDeactivate, TopicARN: e.topicARN}).Handle(context.Background(), event, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Actions) != 0 || keyStatus(t, e.cfg, "bob", *k.AccessKeyId) != iamtypes.StatusTypeActive {
		t.Errorf("a key made 5h after its user was acted on: %+v", out)
	}
	if !strings.Contains(e.journal.String(), "outside the 10m0s setup window") {
		t.Errorf("journal does not say why:\n%s", e.journal)
	}
}

// A password added after the key makes the key a setup key of a console user.
func TestCreateLoginProfileAfterKey(t *testing.T) {
	e := newEnv(t)
	moto.CreateProgrammaticUser(t, e.cfg, "carol")
	k := moto.CreateAccessKey(t, e.cfg, "carol")
	keyEvent := trailgen.EventBridge(trailgen.CreateAccessKey("carol", *k.AccessKeyId, k.CreateDate.UTC()))
	h := e.handler(Config{Action: ActionReport, TopicARN: e.topicARN})
	if out, err := h.Handle(context.Background(), keyEvent, ""); err != nil || len(out.Actions) != 0 {
		t.Fatalf("no password yet: %+v %v", out, err)
	}
	if _, err := iam.NewFromConfig(e.cfg).CreateLoginProfile(context.Background(), &iam.CreateLoginProfileInput{UserName: aws.String("carol"), Password: aws.String("Xx-12345678!")}); err != nil {
		t.Fatal(err)
	}
	out, err := h.Handle(context.Background(), trailgen.EventBridge(trailgen.CreateLoginProfile("carol", time.Now())), "")
	if err != nil || len(out.Actions) != 1 || !strings.Contains(out.Actions[0], *k.AccessKeyId) {
		t.Fatalf("after the password: %+v %v", out, err)
	}
}

func TestGraceSchedulesRecheck(t *testing.T) {
	e := newEnv(t)
	id, event := setupKey(t, e.cfg, "dave")
	h := e.handler(Config{Action: ActionDeactivate, TopicARN: e.topicARN, Grace: 24 * time.Hour, SchedulerRoleARN: "arn:aws:iam::123456789012:role/setupkeys-scheduler"})
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:setupkeys"
	for i := 0; i < 2; i++ {
		if _, err := h.Handle(context.Background(), event, fn); err != nil {
			t.Fatal(err)
		}
	}
	if keyStatus(t, e.cfg, "dave", id) != iamtypes.StatusTypeActive {
		t.Fatal("deactivated before the grace")
	}
	list, err := scheduler.NewFromConfig(e.cfg).ListSchedules(context.Background(), &scheduler.ListSchedulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Schedules) != 1 {
		t.Fatalf("%d schedules, want 1 for a repeated event", len(list.Schedules))
	}
	got, err := scheduler.NewFromConfig(e.cfg).GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: list.Schedules[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Target.Arn != fn || !strings.HasPrefix(*got.ScheduleExpression, "at(") {
		t.Errorf("schedule %s -> %s", *got.ScheduleExpression, *got.Target.Arn)
	}
	// The schedule fires: its input re-invokes the function, which re-checks and deactivates.
	if _, err := h.Handle(context.Background(), []byte(*got.Target.Input), fn); err != nil {
		t.Fatal(err)
	}
	if keyStatus(t, e.cfg, "dave", id) != iamtypes.StatusTypeInactive {
		t.Error("not deactivated after the grace")
	}
}

// A key used during the grace is left alone by the re-check.
func TestGraceRecheckLeavesUsedKey(t *testing.T) {
	e := newEnv(t)
	moto.CreateConsoleUser(t, e.cfg, "erin")
	k := moto.CreateAccessKey(t, e.cfg, "erin")
	e.srv.UseKey(t, k)
	h := e.handler(Config{Action: ActionDeactivate, Grace: time.Hour, SchedulerRoleARN: "arn:aws:iam::123456789012:role/s"})
	recheck, _ := json.Marshal(map[string]Recheck{"setupkeys_recheck": {EventID: "e1", AccountID: "123456789012", User: "erin", AccessKeyID: *k.AccessKeyId, KeyCreated: k.CreateDate.UTC()}})
	out, err := h.Handle(context.Background(), recheck, "")
	if err != nil || len(out.Actions) != 0 || keyStatus(t, e.cfg, "erin", *k.AccessKeyId) != iamtypes.StatusTypeActive {
		t.Errorf("used key: %+v %v", out, err)
	}
}

func TestHandleErrorsAndIgnores(t *testing.T) {
	e := newEnv(t)
	_, event := setupKey(t, e.cfg, "frank")
	failed := trailgen.CreateAccessKey("frank", "AKIAEXAMPLEFAILED001", time.Now())
	failed["errorCode"] = "LimitExceededException"
	deleteUser := trailgen.UserCall("DeleteUser", "frank", time.Now())
	tests := []struct {
		name    string
		h       *Handler
		payload []byte
		wantErr string
		ignored bool
	}{
		{"failed call", e.handler(Config{Action: ActionReport, TopicARN: e.topicARN}), trailgen.EventBridge(failed), "", true},
		{"other IAM call", e.handler(Config{Action: ActionReport, TopicARN: e.topicARN}), trailgen.EventBridge(deleteUser), "", true},
		{"not JSON", e.handler(Config{Action: ActionReport, TopicARN: e.topicARN}), []byte("{"), "payload", false},
		{"other source", e.handler(Config{Action: ActionReport, TopicARN: e.topicARN}), []byte(`{"source":"aws.s3","detail-type":"Object Created","id":"x","detail":{}}`), "event pattern", false},
		{"topic missing", e.handler(Config{Action: ActionReport, TopicARN: "arn:aws:sns:us-east-1:123456789012:nope"}), event, "operation error SNS: Publish", false},
		{"bad recheck", e.handler(Config{Action: ActionDeactivate}), []byte(`{"setupkeys_recheck":{"user":"x"}}`), "required", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.h.Handle(context.Background(), tt.payload, "")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if tt.ignored != (out.Ignored != "") {
				t.Errorf("outcome %+v", out)
			}
		})
	}
	// The failed publish gave its claim back: a retry publishes.
	h := e.handler(Config{Action: ActionReport, TopicARN: e.topicARN})
	h.Config.TopicARN = e.topicARN
	if _, err := h.Handle(context.Background(), event, ""); err != nil {
		t.Fatal(err)
	}
	if _, messages := moto.ReceiveSNS(t, e.cfg, e.queueURL, 5*time.Second); len(messages) != 1 {
		t.Errorf("retry after a failed publish: %d messages, want 1", len(messages))
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{EnvTopicARN: "arn:t", EnvDedupeTable: "d"}, ""},
		{map[string]string{}, "needs SETUPKEYS_TOPIC_ARN"},
		{map[string]string{EnvTopicARN: "arn:t"}, "SETUPKEYS_DEDUPE_TABLE"},
		{map[string]string{EnvAction: "delete"}, "want report or deactivate"},
		{map[string]string{EnvAction: "deactivate", EnvWindow: "ten"}, "SETUPKEYS_WINDOW"},
		{map[string]string{EnvAction: "deactivate", EnvGrace: "-1h"}, "SETUPKEYS_GRACE"},
		{map[string]string{EnvAction: "deactivate", EnvGrace: "10s", EnvSchedulerRole: "r"}, "at least"},
		{map[string]string{EnvAction: "deactivate", EnvGrace: "24h"}, "SETUPKEYS_SCHEDULER_ROLE_ARN"},
		{map[string]string{EnvAction: "deactivate", EnvGrace: "0"}, ""},
		{map[string]string{EnvAction: "deactivate", EnvGrace: "24h", EnvSchedulerRole: "r", EnvWindow: "15m"}, ""},
	}
	for _, tt := range tests {
		c, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%v: error %v, want %q", tt.env, err, tt.wantErr)
		}
		if err == nil && tt.env[EnvWindow] == "15m" && (c.Window != 15*time.Minute || c.Grace != 24*time.Hour) {
			t.Errorf("config %+v", c)
		}
	}
}
