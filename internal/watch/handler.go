package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awscall"
	"github.com/setupkeys/setupkeys/internal/events"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/keycheck"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// IAM is what the function reads and changes in IAM.
type IAM interface {
	keycheck.API
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

// Publisher sends reports.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Dedupe remembers which actions were done for which event.
type Dedupe interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Scheduler creates the one-time schedules of re-checks after a grace.
type Scheduler interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
}

// Handler handles one invocation at a time. Clients a configuration does not use may be nil.
type Handler struct {
	Config    Config
	IAM       IAM
	SNS       Publisher
	Dedupe    Dedupe
	Scheduler Scheduler
	// Journal receives one JSON line per decision and action (stdout: CloudWatch Logs).
	Journal io.Writer
	Now     func() time.Time

	mu sync.Mutex
}

// Recheck is the payload of the schedule that re-invokes the function after the grace.
type Recheck struct {
	EventID     string    `json:"event_id"`
	AccountID   string    `json:"account_id"`
	User        string    `json:"user"`
	AccessKeyID string    `json:"access_key_id"`
	KeyCreated  time.Time `json:"key_created"`
}

// Outcome is what an invocation returns to the runtime (and the logs).
type Outcome struct {
	EventID string   `json:"event_id"`
	Ignored string   `json:"ignored,omitempty"`
	Actions []string `json:"actions"`
}

// The EventBridge shape of CloudTrail's API calls.
const (
	eventSource     = "aws.iam"
	eventDetailType = "AWS API Call via CloudTrail"
)

// dedupeTTL is how long a done action is remembered: longer than EventBridge retries an event
// (24 hours) and any grace a deployment would choose.
const dedupeTTL = 30 * 24 * time.Hour

// Handle is the function: an EventBridge event of CreateAccessKey or CreateLoginProfile, or a
// re-check after a grace. Every error goes back to the runtime, so the event is retried and then
// goes to the dead-letter queue; nothing fails silently.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage, functionARN string) (Outcome, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var probe struct {
		DetailType string   `json:"detail-type"`
		Recheck    *Recheck `json:"setupkeys_recheck"`
	}
	if err := jsonv2.Unmarshal(payload, &probe); err != nil {
		return Outcome{}, fmt.Errorf("payload: %w", err)
	}
	if probe.Recheck != nil {
		return h.recheck(ctx, *probe.Recheck)
	}
	var ev lambdaevents.EventBridgeEvent
	if err := jsonv2.Unmarshal(payload, &ev); err != nil {
		return Outcome{}, fmt.Errorf("payload: not an EventBridge event: %w", err)
	}
	if ev.Source != eventSource || ev.DetailType != eventDetailType {
		return Outcome{}, fmt.Errorf("event %s: source %q, detail-type %q: want %q, %q (check the rule's event pattern)",
			ev.ID, ev.Source, ev.DetailType, eventSource, eventDetailType)
	}
	rec, keep, err := events.ParseRecord(ev.Detail, events.Position{File: "EventBridge event " + ev.ID, Record: 0})
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{EventID: rec.ID}
	if out.EventID == "" {
		out.EventID = ev.ID
	}
	switch {
	case !keep:
		out.Ignored = "a failed call (errorCode) or one the rule does not follow"
	case rec.Name != events.CreateAccessKey && rec.Name != events.CreateLoginProfile:
		out.Ignored = rec.Name + " is not CreateAccessKey or CreateLoginProfile"
	}
	if out.Ignored != "" {
		h.journal(entry{EventID: out.EventID, Action: "ignore", Reason: out.Ignored})
		return out, nil
	}
	var wants []keycheck.Want
	if rec.Name == events.CreateAccessKey {
		wants = []keycheck.Want{{Slot: 1, ID: rec.AccessKeyID, Created: rec.KeyCreated}}
	} else {
		// A password added after the keys: every key of the user may now be a setup key.
		keys, err := iamx.ListAccessKeys(ctx, h.IAM, rec.UserName, nil)
		if err != nil && !iamx.IsNoSuchEntity(err) {
			return out, fmt.Errorf("user %s: iam ListAccessKeys: %w", rec.UserName, err)
		}
		for i, k := range keys {
			wants = append(wants, keycheck.Want{Slot: i + 1, ID: aws.ToString(k.AccessKeyId), Created: aws.ToTime(k.CreateDate)})
		}
	}
	return h.act(ctx, out, rec.AccountID, rec.UserName, wants, functionARN, false)
}

func (h *Handler) recheck(ctx context.Context, r Recheck) (Outcome, error) {
	if r.EventID == "" || r.User == "" || r.AccessKeyID == "" || !setupkeys.ValidAccountID(r.AccountID) {
		return Outcome{}, fmt.Errorf("setupkeys_recheck: event_id, account_id, user and access_key_id are required: %+v", r)
	}
	out := Outcome{EventID: r.EventID}
	return h.act(ctx, out, r.AccountID, r.User, []keycheck.Want{{Slot: 1, ID: r.AccessKeyID, Created: r.KeyCreated}}, "", true)
}

// act judges the user's keys live and does what the configuration says with each flagged one.
func (h *Handler) act(ctx context.Context, out Outcome, account, user string, wants []keycheck.Want, functionARN string, afterGrace bool) (Outcome, error) {
	findings, err := h.judge(ctx, out.EventID, account, user, wants)
	if err != nil {
		return out, err
	}
	for _, f := range findings {
		if f.Status == setupkeys.StatusPass {
			continue
		}
		var err error
		var action string
		switch {
		case h.Config.Action == ActionReport || f.Status != setupkeys.StatusFail:
			// review (made before IAM tracked use) is reported, never acted on.
			action, err = "reported", h.publish(ctx, out.EventID, f, "reported")
		case h.Config.Grace == 0 || afterGrace:
			action, err = h.deactivate(ctx, out.EventID, f)
			if err == nil && h.Config.TopicARN != "" && action == "deactivated" {
				err = h.publish(ctx, out.EventID, f, "deactivated")
			}
		default:
			when := h.Now().Add(h.Config.Grace).UTC().Truncate(time.Second)
			action = "deactivation scheduled for " + when.Format(time.RFC3339)
			if err = h.schedule(ctx, out.EventID, f, functionARN, when); err == nil && h.Config.TopicARN != "" {
				err = h.publish(ctx, out.EventID, f, "will be deactivated at "+when.Format(time.RFC3339)+" unless used by then")
			}
		}
		if err != nil {
			return out, err
		}
		out.Actions = append(out.Actions, keyName(f)+": "+action)
	}
	return out, nil
}

// judge reads the user and the keys live through the key check and returns a finding for each
// key the rule judged; the others are journalled with the reason.
func (h *Handler) judge(ctx context.Context, eventID, account, user string, wants []keycheck.Want) ([]setupkeys.Finding, error) {
	// The event carries neither the user's ARN nor its creation: CheckRow reads both (GetUser).
	row := setupkeys.User{AccountID: account, Name: user}
	for _, w := range wants {
		row.Keys = append(row.Keys, setupkeys.AccessKey{Slot: w.Slot, ID: w.ID, Created: w.Created})
	}
	src := setupkeys.Source{Kind: setupkeys.SourceCloudTrail, File: "EventBridge"}
	findings, notes, err := events.CheckRow(ctx, h.IAM, row, src, rule.Options{Window: h.Config.Window}, false)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		h.journal(entry{EventID: eventID, AccountID: account, User: user, Action: "judge", Outcome: "not-flagged", Reason: n})
	}
	for _, f := range findings {
		h.journal(entry{EventID: eventID, AccountID: account, User: user, AccessKeyID: keyID(f), Action: "judge", Outcome: string(f.Status), Reason: f.Reason})
	}
	return findings, nil
}

// deactivate re-checks the key right before it acts: a key deactivated, deleted or used since (a
// repeated event included) is left alone, which makes deactivation idempotent.
func (h *Handler) deactivate(ctx context.Context, eventID string, f setupkeys.Finding) (string, error) {
	id := keyID(f)
	again, err := h.judge(ctx, eventID, f.AccountID, f.User, []keycheck.Want{{Slot: f.KeySlot, ID: id, Created: f.KeyCreated}})
	if err != nil {
		return "", err
	}
	still := false
	for _, g := range again {
		still = still || (keyID(g) == id && g.Status == setupkeys.StatusFail)
	}
	e := entry{EventID: eventID, AccountID: f.AccountID, User: f.User, AccessKeyID: id, Action: "deactivate"}
	if !still {
		e.Outcome, e.Reason = "skipped", "no longer flagged right before the action (see the judge line above)"
		h.journal(e)
		return "left alone: no longer flagged", nil
	}
	e.Outcome = "started"
	h.journal(e)
	_, err = h.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(f.User), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive})
	if err != nil {
		e.Outcome, e.Reason = "failed", err.Error()
		h.journal(e)
		return "", fmt.Errorf("user %s: iam UpdateAccessKey %s Inactive: %w", f.User, setupkeys.MaskKeyID(id), err)
	}
	e.Outcome = "done"
	h.journal(e)
	return "deactivated", nil
}

// Message is the JSON body of a report on SNS.
type Message struct {
	Summary string            `json:"summary"`
	Action  string            `json:"action"`
	EventID string            `json:"event_id"`
	Finding setupkeys.Finding `json:"finding"`
}

// publish sends the finding once per event, key and action: the first delivery claims the
// message in the dedupe table, a repeated one finds the claim and does not publish again. A
// failed publish gives the claim back so the retry publishes.
func (h *Handler) publish(ctx context.Context, eventID string, f setupkeys.Finding, action string) error {
	if h.Config.TopicARN == "" {
		return nil
	}
	claim := "publish#" + eventID + "#" + keyID(f) + "#" + action
	e := entry{EventID: eventID, AccountID: f.AccountID, User: f.User, AccessKeyID: keyID(f), Action: "publish"}
	ok, err := h.claim(ctx, claim)
	if err != nil {
		return err
	}
	if !ok {
		e.Outcome, e.Reason = "duplicate", "already published for this event"
		h.journal(e)
		return nil
	}
	summary := Summary(f, action)
	body, err := json.Marshal(Message{Summary: summary, Action: action, EventID: eventID, Finding: f})
	if err != nil {
		return err
	}
	_, err = h.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(h.Config.TopicARN),
		Subject:  aws.String(subject(f)),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"event_id":   {DataType: aws.String("String"), StringValue: aws.String(eventID)},
			"status":     {DataType: aws.String("String"), StringValue: aws.String(string(f.Status))},
			"account_id": {DataType: aws.String("String"), StringValue: aws.String(f.AccountID)},
		},
	})
	if err != nil {
		if _, rerr := h.Dedupe.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(h.Config.DedupeTable),
			Key:       map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: claim}},
		}); rerr != nil {
			err = errors.Join(err, awscall.Error("dynamodb", "DeleteItem", "giving back the claim", rerr))
		}
		e.Outcome, e.Reason = "failed", err.Error()
		h.journal(e)
		return awscall.Error("sns", "Publish", "", err)
	}
	e.Outcome, e.Reason = "done", summary
	h.journal(e)
	return nil
}

// claim records id in the dedupe table unless it is there already; false means it was.
func (h *Handler) claim(ctx context.Context, id string) (bool, error) {
	_, err := h.Dedupe.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(h.Config.DedupeTable),
		Item: map[string]ddbtypes.AttributeValue{
			"id":      &ddbtypes.AttributeValueMemberS{Value: id},
			"expires": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(h.Now().Add(dedupeTTL).Unix(), 10)},
		},
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	var cond *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return false, nil
	}
	if err != nil {
		return false, awscall.Error("dynamodb", "PutItem", h.Config.DedupeTable, err)
	}
	return true, nil
}

// schedule makes the one-time EventBridge Scheduler schedule that invokes the function again
// after the grace. Its name is derived from the event and key, so a repeated event finds it
// (ConflictException) instead of making a second one.
func (h *Handler) schedule(ctx context.Context, eventID string, f setupkeys.Finding, functionARN string, when time.Time) error {
	if functionARN == "" {
		return errors.New("no function ARN in the invocation context: cannot schedule the re-check")
	}
	input, err := json.Marshal(map[string]Recheck{"setupkeys_recheck": {EventID: eventID, AccountID: f.AccountID, User: f.User, AccessKeyID: keyID(f), KeyCreated: f.KeyCreated}})
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(eventID + "\x00" + keyID(f)))
	name := "setupkeys-recheck-" + hex.EncodeToString(sum[:12])
	e := entry{EventID: eventID, AccountID: f.AccountID, User: f.User, AccessKeyID: keyID(f), Action: "schedule", Reason: name + " at " + when.Format(time.RFC3339)}
	_, err = h.Scheduler.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(name),
		GroupName:                  aws.String(h.Config.ScheduleGroup),
		ScheduleExpression:         aws.String("at(" + when.Format("2006-01-02T15:04:05") + ")"),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      schedtypes.ActionAfterCompletionDelete,
		Target: &schedtypes.Target{
			Arn:     aws.String(functionARN),
			RoleArn: aws.String(h.Config.SchedulerRoleARN),
			Input:   aws.String(string(input)),
		},
	})
	var conflict *schedtypes.ConflictException
	switch {
	case errors.As(err, &conflict):
		e.Outcome = "duplicate"
	case err != nil:
		e.Outcome, e.Reason = "failed", err.Error()
		h.journal(e)
		return awscall.Error("scheduler", "CreateSchedule", name, err)
	default:
		e.Outcome = "done"
	}
	h.journal(e)
	return nil
}

// Summary is the one-line summary of a report.
func Summary(f setupkeys.Finding, action string) string {
	return fmt.Sprintf("setupkeys %s: account %s user %s access key %s created %s after the user, %s; %s",
		f.Status, f.AccountID, termsafe.String(f.User), keyID(f), setupkeys.FormatGap(time.Duration(f.GapSeconds)*time.Second), lastUsedWords(f), action)
}

func lastUsedWords(f setupkeys.Finding) string {
	if f.LastUsed == nil {
		return "never used"
	}
	return "last used " + f.LastUsed.Format(time.RFC3339)
}

// subject is SNS's Subject: ASCII, at most 100 characters.
func subject(f setupkeys.Finding) string {
	s := fmt.Sprintf("setupkeys %s: setup key %s of %s in %s", f.Status, setupkeys.MaskKeyID(keyID(f)), f.User, f.AccountID)
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 100; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

func keyID(f setupkeys.Finding) string {
	if f.AccessKeyID == nil {
		return ""
	}
	return *f.AccessKeyID
}

func keyName(f setupkeys.Finding) string { return f.User + " " + keyID(f) }

// entry is one journal line.
type entry struct {
	Journal     string    `json:"journal"`
	Time        time.Time `json:"time"`
	EventID     string    `json:"event_id"`
	AccountID   string    `json:"account_id,omitempty"`
	User        string    `json:"user,omitempty"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Action      string    `json:"action"`
	Outcome     string    `json:"outcome,omitempty"`
	Reason      string    `json:"reason,omitempty"`
}

func (h *Handler) journal(e entry) {
	e.Journal, e.Time = "setupkeys", h.Now().UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	h.Journal.Write(append(b, '\n'))
}
