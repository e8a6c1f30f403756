// Package events reads CloudTrail and turns the IAM events in it into user rows for the rule: a
// user created, given a console password and an access key within the setup window, the key not
// deleted or deactivated later. It reads log files (plain or gzipped, a folder, an S3 prefix) in
// eventTime order with memory flat in the number of events, and it parses the one record an
// EventBridge rule hands to the Lambda function the same way.
package events

import (
	"fmt"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The IAM calls the state machine follows. Anything else from iam.amazonaws.com is dropped.
const (
	CreateUser         = "CreateUser"
	DeleteUser         = "DeleteUser"
	CreateLoginProfile = "CreateLoginProfile"
	DeleteLoginProfile = "DeleteLoginProfile"
	CreateAccessKey    = "CreateAccessKey"
	UpdateAccessKey    = "UpdateAccessKey"
	DeleteAccessKey    = "DeleteAccessKey"
)

// IAMSource is the eventSource of IAM's CloudTrail events.
const IAMSource = "iam.amazonaws.com"

var tracked = map[string]bool{
	CreateUser: true, DeleteUser: true, CreateLoginProfile: true, DeleteLoginProfile: true,
	CreateAccessKey: true, UpdateAccessKey: true, DeleteAccessKey: true,
}

// createDateLayout is how CloudTrail writes responseElements' createDate: "Jul 30, 2024 9:53:13
// PM", UTC, to the second (not ISO 8601, unlike eventTime).
const createDateLayout = "Jan 2, 2006 3:04:05 PM"

// Event is one CloudTrail record reduced to what the state machine needs. Name is one of the
// tracked IAM calls, or "" for a use event: any successful call signed with a long-term access
// key (UsedKeyID), which proves that key was used.
type Event struct {
	ID        string
	Time      time.Time
	Name      string
	Source    string
	Region    string
	AccountID string
	// UserName is the IAM user the call is about (the request's userName, or the caller itself
	// when a user acts on its own keys or password).
	UserName string
	// UserARN and UserCreated come from CreateUser's response.
	UserARN     string
	UserCreated time.Time
	// AccessKeyID, KeyCreated and KeyStatus come from CreateAccessKey's response or the request of
	// UpdateAccessKey/DeleteAccessKey.
	AccessKeyID string
	KeyCreated  time.Time
	KeyStatus   string
	// UsedKeyID is the long-term key (AKIA...) that signed the call, if one did.
	UsedKeyID string
	// At is where the record was read, for messages.
	At Position
}

// Position names a record: its file and its index in the file's Records (from 0).
type Position struct {
	File   string
	Record int
}

func (p Position) String() string { return fmt.Sprintf("%s: record %d", p.File, p.Record) }

// record is the part of a CloudTrail record the tool reads. Every other field is allowed and
// ignored: CloudTrail adds fields over time.
type record struct {
	EventVersion       string         `json:"eventVersion"`
	EventTime          string         `json:"eventTime"`
	EventSource        string         `json:"eventSource"`
	EventName          string         `json:"eventName"`
	AWSRegion          string         `json:"awsRegion"`
	ErrorCode          string         `json:"errorCode"`
	EventID            string         `json:"eventID"`
	RecipientAccountID string         `json:"recipientAccountId"`
	UserIdentity       *userIdentity  `json:"userIdentity"`
	RequestParameters  jsontext.Value `json:"requestParameters"`
	ResponseElements   jsontext.Value `json:"responseElements"`
}

type userIdentity struct {
	Type        string `json:"type"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	AccessKeyID string `json:"accessKeyId"`
	UserName    string `json:"userName"`
}

type requestParameters struct {
	UserName    string `json:"userName"`
	AccessKeyID string `json:"accessKeyId"`
	Status      string `json:"status"`
}

type responseElements struct {
	User *struct {
		UserName   string `json:"userName"`
		ARN        string `json:"arn"`
		CreateDate string `json:"createDate"`
	} `json:"user"`
	AccessKey *struct {
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
		Status      string `json:"status"`
		CreateDate  string `json:"createDate"`
	} `json:"accessKey"`
	LoginProfile *struct {
		UserName string `json:"userName"`
	} `json:"loginProfile"`
}

// RecordError is a record that is not a CloudTrail record the tool can read.
type RecordError struct {
	At  Position
	Err error
}

func (e *RecordError) Error() string { return e.At.String() + ": " + e.Err.Error() }
func (e *RecordError) Unwrap() error { return e.Err }

// ParseRecord reads one CloudTrail record (an element of a log file's Records, or the detail of
// an EventBridge "AWS API Call via CloudTrail" event). keep is false for records the state
// machine does not need: other services' calls not signed with a long-term key, IAM calls it
// does not follow, and failed calls (errorCode set). A record it needs but cannot read is an
// error.
func ParseRecord(raw []byte, at Position) (ev Event, keep bool, err error) {
	var r record
	if err := decodeStrict(raw, &r); err != nil {
		return Event{}, false, &RecordError{At: at, Err: err}
	}
	if r.ErrorCode != "" {
		return Event{}, false, nil
	}
	isIAM := r.EventSource == IAMSource && tracked[r.EventName]
	usedKey := ""
	if r.UserIdentity != nil && strings.HasPrefix(r.UserIdentity.AccessKeyID, "AKIA") {
		usedKey = r.UserIdentity.AccessKeyID
	}
	if !isIAM && usedKey == "" {
		return Event{}, false, nil
	}
	bad := func(format string, args ...any) (Event, bool, error) {
		return Event{}, false, &RecordError{At: at, Err: fmt.Errorf("%s %s: "+format, append([]any{r.EventSource, r.EventName}, args...)...)}
	}
	if r.EventTime == "" {
		return bad("no eventTime")
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return bad("eventTime %q is not ISO 8601", r.EventTime)
	}
	ev = Event{
		ID: r.EventID, Time: t.UTC(), Source: r.EventSource, Region: r.AWSRegion,
		AccountID: r.RecipientAccountID, UsedKeyID: usedKey, At: at,
	}
	if r.UserIdentity != nil && ev.AccountID == "" {
		ev.AccountID = r.UserIdentity.AccountID
	}
	if !isIAM {
		return ev, true, nil
	}
	ev.Name = r.EventName
	var req requestParameters
	if err := decodeOptional(r.RequestParameters, &req); err != nil {
		return bad("requestParameters: %v", err)
	}
	var resp responseElements
	if err := decodeOptional(r.ResponseElements, &resp); err != nil {
		return bad("responseElements: %v", err)
	}
	ev.UserName = req.UserName
	if ev.UserName == "" && r.UserIdentity != nil && r.UserIdentity.Type == "IAMUser" {
		// No userName in the request: the caller acted on itself.
		ev.UserName = r.UserIdentity.UserName
	}
	switch ev.Name {
	case CreateUser:
		if resp.User == nil || resp.User.UserName == "" || resp.User.ARN == "" {
			return bad("responseElements.user with userName and arn is missing")
		}
		ev.UserName, ev.UserARN = resp.User.UserName, resp.User.ARN
		ev.UserCreated = ev.Time.Truncate(time.Second)
		if resp.User.CreateDate != "" {
			if ev.UserCreated, err = ParseCreateDate(resp.User.CreateDate); err != nil {
				return bad("responseElements.user.createDate: %v", err)
			}
		}
	case CreateAccessKey:
		k := resp.AccessKey
		if k == nil || k.AccessKeyID == "" || k.UserName == "" {
			return bad("responseElements.accessKey with accessKeyId and userName is missing")
		}
		ev.UserName, ev.AccessKeyID, ev.KeyStatus = k.UserName, k.AccessKeyID, k.Status
		ev.KeyCreated = ev.Time.Truncate(time.Second)
		if k.CreateDate != "" {
			if ev.KeyCreated, err = ParseCreateDate(k.CreateDate); err != nil {
				return bad("responseElements.accessKey.createDate: %v", err)
			}
		}
	case UpdateAccessKey, DeleteAccessKey:
		if req.AccessKeyID == "" {
			return bad("requestParameters.accessKeyId is missing")
		}
		ev.AccessKeyID, ev.KeyStatus = req.AccessKeyID, req.Status
		if ev.Name == UpdateAccessKey && req.Status != "Active" && req.Status != "Inactive" {
			return bad("requestParameters.status %q is neither Active nor Inactive", req.Status)
		}
	case CreateLoginProfile:
		if ev.UserName == "" && resp.LoginProfile != nil {
			ev.UserName = resp.LoginProfile.UserName
		}
	}
	if ev.UserName == "" {
		return bad("no user name in the request, the response or the caller")
	}
	if ev.AccountID == "" {
		return bad("no recipientAccountId")
	}
	return ev, true, nil
}

// ParseCreateDate reads CloudTrail's createDate ("Jul 30, 2024 9:53:13 PM", UTC). ISO 8601 is
// accepted too, as some tools rewrite records.
func ParseCreateDate(s string) (time.Time, error) {
	if t, err := time.Parse(createDateLayout, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither like %q nor ISO 8601", s, createDateLayout)
}

// decodeOptional decodes raw into v unless it is absent or null (CreateAccessKey by a user for
// itself has requestParameters null).
func decodeOptional(raw jsontext.Value, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return decodeStrict(raw, v)
}

// decodeStrict decodes one record: field names match exactly (CloudTrail's own spelling, no
// case folding), a duplicate name is refused (a second "errorCode" must not hide the first),
// invalid UTF-8 is refused; fields the tool does not read are allowed, as CloudTrail adds them
// over time. JSON v2's defaults are exactly that.
func decodeStrict(raw []byte, v any) error {
	return jsonv2.Unmarshal(raw, v)
}
