package events

import (
	"bytes"
	"errors"
	"os"
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
