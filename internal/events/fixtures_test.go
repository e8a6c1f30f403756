package events

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fixtures build records in CloudTrail's recorded shape (see testdata/recorded): every
// field a real record has, createDate in CloudTrail's "Jul 30, 2024 9:53:13 PM" form, the admin
// acting through an SSO role session.

const testAccount = "123456789012"

var eventSeq int

func baseRecord(name, source string, at time.Time) map[string]any {
	eventSeq++
	return map[string]any{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type":        "AssumedRole",
			"principalId": "AROAEXAMPLEROLEID0001:admin@example.com",
			"arn":         "arn:aws:sts::" + testAccount + ":assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/admin@example.com",
			"accountId":   testAccount,
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
		"requestID":          fmt.Sprintf("0f1e2d3c-4b5a-6978-8a9b-%012d", eventSeq),
		"eventID":            fmt.Sprintf("11111111-2222-3333-4444-%012d", eventSeq),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": testAccount,
		"eventCategory":      "Management",
		"tlsDetails":         map[string]any{"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "iam.amazonaws.com"},
	}
}

func createDate(t time.Time) string { return t.UTC().Format(createDateLayout) }

func recCreateUser(user string, at time.Time) map[string]any {
	r := baseRecord(CreateUser, IAMSource, at)
	r["requestParameters"] = map[string]any{"userName": user}
	r["responseElements"] = map[string]any{"user": map[string]any{
		"path": "/", "userName": user, "userId": "AIDAEXAMPLE" + user, "arn": "arn:aws:iam::" + testAccount + ":user/" + user, "createDate": createDate(at),
	}}
	return r
}

func recLoginProfile(user string, at time.Time) map[string]any {
	r := baseRecord(CreateLoginProfile, IAMSource, at)
	r["requestParameters"] = map[string]any{"userName": user, "passwordResetRequired": true}
	r["responseElements"] = map[string]any{"loginProfile": map[string]any{"userName": user, "createDate": createDate(at), "passwordResetRequired": true}}
	return r
}

func recUserCall(name, user string, at time.Time) map[string]any {
	r := baseRecord(name, IAMSource, at)
	r["requestParameters"] = map[string]any{"userName": user}
	return r
}

func recCreateKey(user, key string, at time.Time) map[string]any {
	r := baseRecord(CreateAccessKey, IAMSource, at)
	r["requestParameters"] = map[string]any{"userName": user}
	r["responseElements"] = map[string]any{"accessKey": map[string]any{"userName": user, "accessKeyId": key, "status": "Active", "createDate": createDate(at)}}
	return r
}

// recSelfCreateKey is a user making its own key: requestParameters is null.
func recSelfCreateKey(user, key string, at time.Time) map[string]any {
	r := recCreateKey(user, key, at)
	r["userIdentity"] = map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLE" + user, "arn": "arn:aws:iam::" + testAccount + ":user/" + user,
		"accountId": testAccount, "accessKeyId": "ASIAEXAMPLECONSOLE01", "userName": user}
	r["requestParameters"] = nil
	return r
}

func recKeyCall(name, user, key, status string, at time.Time) map[string]any {
	r := baseRecord(name, IAMSource, at)
	p := map[string]any{"userName": user, "accessKeyId": key}
	if status != "" {
		p["status"] = status
	}
	r["requestParameters"] = p
	return r
}

// recSignedBy is a call to another service signed with a user's access key.
func recSignedBy(user, key, source string, at time.Time) map[string]any {
	r := baseRecord("DescribeInstances", source, at)
	r["userIdentity"] = map[string]any{"type": "IAMUser", "principalId": "AIDAEXAMPLE" + user, "arn": "arn:aws:iam::" + testAccount + ":user/" + user,
		"accountId": testAccount, "accessKeyId": key, "userName": user}
	r["awsRegion"] = "eu-west-1"
	r["readOnly"] = true
	return r
}

func logJSON(t testing.TB, records ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// logName is CloudTrail's object key for a file delivered at delivered.
func logName(account string, delivered time.Time, unique string) string {
	d := delivered.UTC()
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/%04d/%02d/%02d/%s_CloudTrail_us-east-1_%s_%s.json.gz",
		account, d.Year(), d.Month(), d.Day(), account, d.Format("20060102T1504Z"), unique)
}

func writeFile(t testing.TB, dir, rel string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// day is the fixtures' reference time, the day of the recorded sample.
var day = time.Date(2024, 7, 30, 21, 0, 0, 0, time.UTC)

func at(minutes, seconds int) time.Time {
	return day.Add(time.Duration(minutes)*time.Minute + time.Duration(seconds)*time.Second)
}

// scenarioFile is one log file of the scenario with its delivery time and whether it is gzipped.
type scenarioFile struct {
	delivered time.Time
	plain     bool
	records   []map[string]any
}

// scenario is an account's day: every case the state machine must tell apart, spread over files
// whose delivery order differs from their folder order and from their events' order.
func scenario() []scenarioFile {
	return []scenarioFile{
		{delivered: at(60, 0), records: []map[string]any{ // 22:00
			// dave's key was deactivated at 21:58, but its CreateAccessKey (21:50) arrives in a later file.
			recKeyCall(UpdateAccessKey, "dave", "AKIAEXAMPLEDAVEKEY01", "Inactive", at(58, 0)),
			// grace got her password long after her key: a password added later still counts.
			recLoginProfile("grace", at(59, 0)),
		}},
		{delivered: at(55, 0), plain: true, records: []map[string]any{ // 21:55
			recCreateUser("alice", at(53, 12)), recLoginProfile("alice", at(53, 12)), recCreateKey("alice", "AKIAEXAMPLEALICEKEY1", at(53, 13)),
			recCreateUser("bob", at(40, 0)), recLoginProfile("bob", at(40, 1)), recCreateKey("bob", "AKIAEXAMPLEBOBKEY001", at(41, 0)),
			recSignedBy("bob", "AKIAEXAMPLEBOBKEY001", "ec2.amazonaws.com", at(54, 0)),
			recCreateUser("carol", at(42, 0)), recLoginProfile("carol", at(42, 0)), recCreateKey("carol", "AKIAEXAMPLECAROLKEY1", at(42, 5)),
			recCreateUser("dave", at(49, 0)), recLoginProfile("dave", at(49, 0)),
			recCreateUser("erin", at(44, 0)), recCreateKey("erin", "AKIAEXAMPLEERINKEY01", at(44, 1)),
			recCreateUser("grace", at(45, 0)), recCreateKey("grace", "AKIAEXAMPLEGRACEKEY1", at(45, 3)),
			recCreateUser("heidi", at(46, 0)), recLoginProfile("heidi", at(46, 0)), recCreateKey("heidi", "AKIAEXAMPLEHEIDIKEY1", at(46, 2)),
			recCreateUser("ivan", at(47, 0)), recLoginProfile("ivan", at(47, 0)), recCreateKey("ivan", "AKIAEXAMPLEIVANKEY01", at(47, 2)),
			recCreateUser("judy", at(48, 0)), recLoginProfile("judy", at(48, 0)), recSelfCreateKey("judy", "AKIAEXAMPLEJUDYKEY01", at(48, 30)),
			recCreateUser("frank", at(0, 0)), recLoginProfile("frank", at(0, 0)),
		}},
		{delivered: at(65, 0), records: []map[string]any{ // 22:05, late: dave's key creation from 21:50
			recCreateKey("dave", "AKIAEXAMPLEDAVEKEY01", at(50, 0)),
			recKeyCall(DeleteAccessKey, "carol", "AKIAEXAMPLECAROLKEY1", "", at(61, 0)),
			recUserCall(DeleteLoginProfile, "heidi", at(62, 0)),
		}},
		{delivered: at(125, 0), records: []map[string]any{ // 23:05
			recUserCall(DeleteUser, "ivan", at(120, 0)),
			// frank's key comes two hours after him: not a setup key.
			recCreateKey("frank", "AKIAEXAMPLEFRANKKEY1", at(121, 0)),
		}},
	}
}

// writeScenario writes the scenario's files under dir in CloudTrail's layout, each below its
// own folder (part9, part8, ...) so the order a folder walk finds them in (23:05, 22:05, 21:55,
// 22:00) is neither delivery nor event order.
func writeScenario(t testing.TB, dir string) {
	t.Helper()
	for i, f := range scenario() {
		name := fmt.Sprintf("part%d/", 9-i) + logName(testAccount, f.delivered, fmt.Sprintf("u%02d", 9-i))
		b := logJSON(t, f.records...)
		if f.plain {
			name = name[:len(name)-len(".gz")]
		} else {
			b = gz(t, b)
		}
		writeFile(t, dir, name, b)
	}
}
