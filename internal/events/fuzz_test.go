package events

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

// FuzzReadLog: any bytes give events or a *FileError, never a panic or a hang; an event kept is
// one the state machine can use.
func FuzzReadLog(f *testing.F) {
	sample, err := os.ReadFile("testdata/recorded/123456789012_CloudTrail_us-east-1_20240730T2200Z_q1w2e3r4t5y6u7i8.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add(trailgen.Gzip(sample))
	for _, file := range trailgen.Scenario() {
		f.Add(trailgen.Log(file.Records...))
	}
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","eventTime":"2024-07-30T21:53:13Z","recipientAccountId":"123456789012","requestParameters":null,"responseElements":{"accessKey":{"accessKeyId":"AKIAX","userName":"u","createDate":"Jul 30, 2024 9:53:13 PM"}}}]}`))
	f.Add([]byte(`{"Records":[{"eventName":"CreateUser","eventName":"DeleteUser"}]}`))
	// The limit cases: a record over maxRecordBytes, names with control characters, NUL or
	// invalid UTF-8, a BOM, case-variant field names.
	create := `{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventTime":"2024-07-30T21:53:09Z","recipientAccountId":"123456789012","requestParameters":{"userName":"USER"},"responseElements":{"user":{"userName":"USER","arn":"arn:aws:iam::123456789012:user/u","createDate":"Jul 30, 2024 9:53:09 PM"}}}`
	for _, user := range []string{`u\u001b[2J`, `u\u0000`, "u\xff", `u\ufeff`, strings.Repeat("u", maxRecordBytes)} {
		f.Add([]byte(`{"Records":[` + strings.ReplaceAll(create, "USER", user) + `]}`))
	}
	f.Add([]byte("\ufeff" + `{"Records":[` + strings.ReplaceAll(create, "USER", "u") + `]}`))
	f.Add([]byte(`{"records":[` + strings.ReplaceAll(strings.Replace(create, `"eventName"`, `"EventName"`, 1), "USER", "u") + `]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := readLog(bytes.NewReader(data), "fuzz.json", func(ev Event) error {
			if ev.Time.IsZero() {
				t.Fatalf("event without a time: %+v", ev)
			}
			if ev.Name != "" && (ev.UserName == "" || ev.AccountID == "") {
				t.Fatalf("IAM event without user or account: %+v", ev)
			}
			if ev.Name == CreateAccessKey && ev.AccessKeyID == "" {
				t.Fatalf("CreateAccessKey without key: %+v", ev)
			}
			return nil
		})
		var fe *FileError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *FileError", err, err)
		}
	})
}

// FuzzParseS3URL: --cloudtrail s3://BUCKET/PREFIX gives a bucket or an error, never a panic.
func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{"s3://trail-bucket/AWSLogs/", "s3://b", "s3:///prefix", "https://b/p", "s3://b\x1b[2J/p", "s3://b/\x00", "\ufeffs3://b/p", "S3://b/p", "s3://" + strings.Repeat("b", 70000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bucket, prefix, err := ParseS3URL(s)
		if err != nil {
			if bucket != "" || prefix != "" {
				t.Fatalf("both a result and an error: %q %q %v", bucket, prefix, err)
			}
			return
		}
		if bucket == "" || strings.HasPrefix(prefix, "/") {
			t.Fatalf("%q: bucket %q, prefix %q", s, bucket, prefix)
		}
	})
}
