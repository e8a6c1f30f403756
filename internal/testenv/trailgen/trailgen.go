// Package trailgen writes CloudTrail records and log files in CloudTrail's recorded shape (see
// internal/events/testdata/recorded) for tests: every field a real record has, createDate in
// CloudTrail's "Jul 30, 2024 9:53:13 PM" form, an admin acting through an SSO role session.
package trailgen

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Account is the account the records are in unless a builder is told otherwise.
const Account = "123456789012"

// Record is one CloudTrail record as JSON-ready data; tests edit fields before writing.
type Record = map[string]any

const iamSource = "iam.amazonaws.com"

const createDateLayout = "Jan 2, 2006 3:04:05 PM"

var eventSeq atomic.Int64

func Base(name, source string, at time.Time) Record {
	seq := eventSeq.Add(1)
	return Record{
		"eventVersion": "1.09",
		"userIdentity": Record{
			"type":        "AssumedRole",
			"principalId": "AROAEXAMPLEROLEID0001:admin@example.com",
			"arn":         "arn:aws:sts::" + Account + ":assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/admin@example.com",
			"accountId":   Account,
			"accessKeyId": "ASIAEXAMPLESESSION01",
		},
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        source,
		"eventName":          name,
		"awsRegion":          "us-east-1",
		"sourceIPAddress":    "203.0.113.10",
		"userAgent":          "AWS Internal",
		"requestParameters":  nil,
		"responseElements":   nil,
		"requestID":          fmt.Sprintf("0f1e2d3c-4b5a-6978-8a9b-%012d", seq),
		"eventID":            fmt.Sprintf("11111111-2222-3333-4444-%012d", seq),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": Account,
		"eventCategory":      "Management",
		"tlsDetails":         Record{"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "iam.amazonaws.com"},
	}
}

func CreateDate(t time.Time) string { return t.UTC().Format(createDateLayout) }

func CreateUser(user string, at time.Time) Record {
	r := Base("CreateUser", iamSource, at)
	r["requestParameters"] = Record{"userName": user}
	r["responseElements"] = Record{"user": Record{
		"path": "/", "userName": user, "userId": "AIDAEXAMPLE" + user, "arn": "arn:aws:iam::" + Account + ":user/" + user, "createDate": CreateDate(at),
	}}
	return r
}

func CreateLoginProfile(user string, at time.Time) Record {
	r := Base("CreateLoginProfile", iamSource, at)
	r["requestParameters"] = Record{"userName": user, "passwordResetRequired": true}
	r["responseElements"] = Record{"loginProfile": Record{"userName": user, "createDate": CreateDate(at), "passwordResetRequired": true}}
	return r
}

func UserCall(name, user string, at time.Time) Record {
	r := Base(name, iamSource, at)
	r["requestParameters"] = Record{"userName": user}
	return r
}

func CreateAccessKey(user, key string, at time.Time) Record {
	r := Base("CreateAccessKey", iamSource, at)
	r["requestParameters"] = Record{"userName": user}
	r["responseElements"] = Record{"accessKey": Record{"userName": user, "accessKeyId": key, "status": "Active", "createDate": CreateDate(at)}}
	return r
}

// SelfCreateAccessKey is a user making its own key: requestParameters is null.
func SelfCreateAccessKey(user, key string, at time.Time) Record {
	r := CreateAccessKey(user, key, at)
	r["userIdentity"] = Record{"type": "IAMUser", "principalId": "AIDAEXAMPLE" + user, "arn": "arn:aws:iam::" + Account + ":user/" + user,
		"accountId": Account, "accessKeyId": "ASIAEXAMPLECONSOLE01", "userName": user}
	r["requestParameters"] = nil
	return r
}

func KeyCall(name, user, key, status string, at time.Time) Record {
	r := Base(name, iamSource, at)
	p := Record{"userName": user, "accessKeyId": key}
	if status != "" {
		p["status"] = status
	}
	r["requestParameters"] = p
	return r
}

// SignedBy is a call to another service signed with a user's access key.
func SignedBy(user, key, source string, at time.Time) Record {
	r := Base("DescribeInstances", source, at)
	r["userIdentity"] = Record{"type": "IAMUser", "principalId": "AIDAEXAMPLE" + user, "arn": "arn:aws:iam::" + Account + ":user/" + user,
		"accountId": Account, "accessKeyId": key, "userName": user}
	r["awsRegion"] = "eu-west-1"
	r["readOnly"] = true
	return r
}

// Log is a log file's content: {"Records":[...]}.
func Log(records ...Record) []byte {
	b, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		panic(err) // the builders make only marshalable values
	}
	return b
}

// JSON is one record's JSON (an EventBridge event's detail).
func JSON(r Record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// Gzip compresses b as CloudTrail does.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// ObjectKey is CloudTrail's object key for a file delivered at delivered.
func ObjectKey(account string, delivered time.Time, unique string) string {
	d := delivered.UTC()
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%04d/%02d/%02d/%s_CloudTrail_us-east-1_%s_%s.json.gz",
		account, d.Year(), d.Month(), d.Day(), account, d.Format("20060102T1504Z"), unique)
}

// WriteFile writes b at dir/rel, making folders.
func WriteFile(dir, rel string, b []byte) (string, error) {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, b, 0o644)
}

// Day is the scenario's reference time, the day of the recorded sample, 21:00 UTC.
var Day = time.Date(2024, 7, 30, 21, 0, 0, 0, time.UTC)

// At is Day plus minutes and seconds.
func At(minutes, seconds int) time.Time {
	return Day.Add(time.Duration(minutes)*time.Minute + time.Duration(seconds)*time.Second)
}

// ScenarioFile is one log file of the scenario with its delivery time and whether it is plain
// (not gzipped).
type ScenarioFile struct {
	Delivered time.Time
	Plain     bool
	Records   []Record
}

// scenario is an account's day: every case the state machine must tell apart, spread over files
// whose delivery order differs from their folder order and from their events' order.
func Scenario() []ScenarioFile {
	return []ScenarioFile{
		{Delivered: At(60, 0), Records: []Record{ // 22:00
			// dave's key was deactivated at 21:58, but its CreateAccessKey (21:50) arrives in a later file.
			KeyCall("UpdateAccessKey", "dave", "AKIAEXAMPLEDAVEKEY01", "Inactive", At(58, 0)),
			// grace got her password long after her key: a password added later still counts.
			CreateLoginProfile("grace", At(59, 0)),
		}},
		{Delivered: At(55, 0), Plain: true, Records: []Record{ // 21:55
			CreateUser("alice", At(53, 12)), CreateLoginProfile("alice", At(53, 12)), CreateAccessKey("alice", "AKIAEXAMPLEALICEKEY1", At(53, 13)),
			CreateUser("bob", At(40, 0)), CreateLoginProfile("bob", At(40, 1)), CreateAccessKey("bob", "AKIAEXAMPLEBOBKEY001", At(41, 0)),
			SignedBy("bob", "AKIAEXAMPLEBOBKEY001", "ec2.amazonaws.com", At(54, 0)),
			CreateUser("carol", At(42, 0)), CreateLoginProfile("carol", At(42, 0)), CreateAccessKey("carol", "AKIAEXAMPLECAROLKEY1", At(42, 5)),
			CreateUser("dave", At(49, 0)), CreateLoginProfile("dave", At(49, 0)),
			CreateUser("erin", At(44, 0)), CreateAccessKey("erin", "AKIAEXAMPLEERINKEY01", At(44, 1)),
			CreateUser("grace", At(45, 0)), CreateAccessKey("grace", "AKIAEXAMPLEGRACEKEY1", At(45, 3)),
			CreateUser("heidi", At(46, 0)), CreateLoginProfile("heidi", At(46, 0)), CreateAccessKey("heidi", "AKIAEXAMPLEHEIDIKEY1", At(46, 2)),
			CreateUser("ivan", At(47, 0)), CreateLoginProfile("ivan", At(47, 0)), CreateAccessKey("ivan", "AKIAEXAMPLEIVANKEY01", At(47, 2)),
			CreateUser("judy", At(48, 0)), CreateLoginProfile("judy", At(48, 0)), SelfCreateAccessKey("judy", "AKIAEXAMPLEJUDYKEY01", At(48, 30)),
			CreateUser("frank", At(0, 0)), CreateLoginProfile("frank", At(0, 0)),
		}},
		{Delivered: At(65, 0), Records: []Record{ // 22:05, late: dave's key creation from 21:50
			CreateAccessKey("dave", "AKIAEXAMPLEDAVEKEY01", At(50, 0)),
			KeyCall("DeleteAccessKey", "carol", "AKIAEXAMPLECAROLKEY1", "", At(61, 0)),
			UserCall("DeleteLoginProfile", "heidi", At(62, 0)),
		}},
		{Delivered: At(125, 0), Records: []Record{ // 23:05
			UserCall("DeleteUser", "ivan", At(120, 0)),
			// frank's key comes two hours after him: not a setup key.
			CreateAccessKey("frank", "AKIAEXAMPLEFRANKKEY1", At(121, 0)),
		}},
	}
}

// ScenarioObjects are the scenario's files by path: CloudTrail's object keys
// (AWSLogs/<account>/CloudTrail/us-east-1/2024/07/30/...), the 21:55 file plain and the rest
// gzipped.
func ScenarioObjects() map[string][]byte {
	out := map[string][]byte{}
	for i, f := range Scenario() {
		name := ObjectKey(Account, f.Delivered, fmt.Sprintf("u%02d", 9-i))
		b := Log(f.Records...)
		if f.Plain {
			name = name[:len(name)-len(".gz")]
		} else {
			b = Gzip(b)
		}
		out[name] = b
	}
	return out
}

// WriteScenario writes the scenario's files under dir, each below its own folder (part9,
// part8, ...) so the order a folder walk finds them in (23:05, 22:05, 21:55, 22:00) is neither
// delivery nor event order.
func WriteScenario(dir string) error {
	i := 0
	for _, f := range Scenario() {
		name := ObjectKey(Account, f.Delivered, fmt.Sprintf("u%02d", 9-i))
		if f.Plain {
			name = name[:len(name)-len(".gz")]
		}
		if _, err := WriteFile(dir, fmt.Sprintf("part%d/", 9-i)+name, ScenarioObjects()[name]); err != nil {
			return err
		}
		i++
	}
	return nil
}

// EventBridge wraps a record as EventBridge delivers it to a rule's target: source aws.iam,
// detail-type "AWS API Call via CloudTrail", detail the record.
func EventBridge(r Record) []byte {
	b, err := json.Marshal(map[string]any{
		"version":     "0",
		"id":          fmt.Sprintf("7bf73129-1428-4cd3-a780-%012d", eventSeq.Add(1)),
		"detail-type": "AWS API Call via CloudTrail",
		"source":      "aws.iam",
		"account":     r["recipientAccountId"],
		"time":        r["eventTime"],
		"region":      "us-east-1",
		"resources":   []string{},
		"detail":      r,
	})
	if err != nil {
		panic(err)
	}
	return b
}
