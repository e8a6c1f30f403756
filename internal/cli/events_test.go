package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

func TestEventsFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no source", nil, "--cloudtrail"},
		{"bad format", []string{"--cloudtrail", "x", "--format", "yaml"}, "--format"},
		{"bad window", []string{"--cloudtrail", "x", "--window", "0s"}, "--window"},
		{"endpoint for files", []string{"--cloudtrail", "x", "--endpoint-url", "http://localhost"}, "local files"},
		{"positional", []string{"--cloudtrail", "x", "y"}, "accepts 0 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Factory{IO: IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Now: time.Now}
			cmd := NewCmdEvents(f, func(context.Context, *EventsOptions) error { return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if code, _ := ExitCode(err); code != ExitBadInput {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

// eventsStatuses runs `setupkeys events ... --format json --all` and returns user/key -> status.
func eventsStatuses(t *testing.T, wantCode int, args ...string) map[string]string {
	t.Helper()
	code, out, errOut := runCLI(t, "", append([]string{"events", "--format", "json", "--all"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d; stderr %s", code, wantCode, errOut)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, f := range doc.Findings {
		got[f.User+" "+*f.AccessKeyID] = string(f.Status)
	}
	if doc.Source.Kind != "cloudtrail" {
		t.Errorf("source %+v", doc.Source)
	}
	if doc.Summary.Pending != strings.Count(out, `"status": "pending"`) {
		t.Errorf("summary %+v does not count the pending findings", doc.Summary)
	}
	return got
}

var scenarioWant = map[string]string{
	"alice AKIAEXAMPLEALICEKEY1": "pending",
	"bob AKIAEXAMPLEBOBKEY001":   "pass",
	"grace AKIAEXAMPLEGRACEKEY1": "pending",
	"judy AKIAEXAMPLEJUDYKEY01":  "pending",
}

func sameStatuses(t *testing.T, got, want map[string]string) {
	t.Helper()
	keys := func(m map[string]string) string {
		var s []string
		for k, v := range m {
			s = append(s, k+"="+v)
		}
		sort.Strings(s)
		return strings.Join(s, " ")
	}
	if keys(got) != keys(want) {
		t.Errorf("findings\n %s\nwant\n %s", keys(got), keys(want))
	}
}

// TestEventsFolder: nested folders, gzipped and plain files, files whose folder order is not
// their delivery order and events that arrive in a later file than newer ones.
func TestEventsFolder(t *testing.T) {
	dir := t.TempDir()
	if err := trailgen.WriteScenario(dir); err != nil {
		t.Fatal(err)
	}
	sameStatuses(t, eventsStatuses(t, ExitOK, "--cloudtrail", dir), scenarioWant)
	// Pending is not a failure unless --strict.
	if code, _, _ := runCLI(t, "", "events", "--cloudtrail", dir, "--strict"); code != ExitFailed {
		t.Errorf("--strict with pending findings: exit %d, want 3", code)
	}
	code, out, _ := runCLI(t, "", "events", "--cloudtrail", dir)
	if code != ExitOK || !strings.Contains(out, "PENDING") || !strings.Contains(out, "CloudTrail events from "+dir) || !strings.Contains(out, "3 pending") {
		t.Errorf("table (exit %d):\n%s", code, out)
	}
}

func TestEventsBadFile(t *testing.T) {
	dir := t.TempDir()
	if err := trailgen.WriteScenario(dir); err != nil {
		t.Fatal(err)
	}
	// Truncate one gzipped file.
	var victim string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".json.gz") && victim == "" {
			victim = p
		}
		return nil
	})
	b, _ := os.ReadFile(victim)
	os.WriteFile(victim, b[:len(b)/2], 0o644)
	code, out, errOut := runCLI(t, "", "events", "--cloudtrail", dir)
	if code != ExitBadInput || out != "" || !strings.Contains(errOut, victim+": ") || !strings.Contains(errOut, "truncated") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 naming %s", code, out, errOut, victim)
	}
	code, _, errOut = runCLI(t, "", "events", "--cloudtrail", filepath.Join(dir, "missing"))
	if code != ExitBadInput || !strings.Contains(errOut, "missing") {
		t.Errorf("missing path: exit %d, %s", code, errOut)
	}
}

// TestEventsS3 reads the scenario from a bucket in moto, through the SDK's ListObjectsV2
// paginator, in CloudTrail's AWSLogs layout, with other files beside it that are not logs.
func TestEventsS3(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	bucket := "trail-bucket"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for key, body := range trailgen.ScenarioObjects() {
		put("org/"+key, body)
	}
	put("org/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/07/30/123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20240730T2200Z.json.gz", []byte("not a log"))
	put("org/AWSLogs/123456789012/CloudTrail/us-east-1/2024/07/30/README.txt", []byte("not a log"))
	for _, kv := range srv.Env(t, moto.DefaultAccountID) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	sameStatuses(t, eventsStatuses(t, ExitOK, "--cloudtrail", "s3://"+bucket+"/org/AWSLogs/"), scenarioWant)

	code, _, errOut := runCLI(t, "", "events", "--cloudtrail", "s3://"+bucket+"/nothing-here/")
	if code != ExitBadInput || !strings.Contains(errOut, "no CloudTrail log files") {
		t.Errorf("empty prefix: exit %d, %s", code, errOut)
	}
}

// TestEventsLive: the logs name the keys, IAM in moto decides them through the key check.
func TestEventsLive(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	var records []trailgen.Record
	// mirror writes the CloudTrail records of what was just done in moto, with moto's times and IDs.
	consoleUserWithKey := func(name string) (created time.Time, key string, k types.AccessKey) {
		u := moto.CreateConsoleUser(t, cfg, name)
		k = moto.CreateAccessKey(t, cfg, name)
		created = u.CreateDate.UTC().Truncate(time.Second)
		kc := k.CreateDate.UTC().Truncate(time.Second)
		records = append(records, trailgen.CreateUser(name, created), trailgen.CreateLoginProfile(name, created), trailgen.CreateAccessKey(name, *k.AccessKeyId, kc))
		return created, *k.AccessKeyId, k
	}
	_, aliceKey, _ := consoleUserWithKey("alice")
	_, bobKey, bob := consoleUserWithKey("bob")
	srv.UseKey(t, bob)
	_, carolKey, _ := consoleUserWithKey("carol")
	iamClient := iam.NewFromConfig(cfg)
	if _, err := iamClient.DeleteAccessKey(context.Background(), &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String(carolKey)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := trailgen.WriteFile(dir, trailgen.ObjectKey(trailgen.Account, time.Now(), "live"), trailgen.Gzip(trailgen.Log(records...))); err != nil {
		t.Fatal(err)
	}
	// From the logs alone all three are pending (carol's deletion is not in them).
	code, out, errOut := runCLI(t, "", "events", "--cloudtrail", dir, "--format", "json", "--all")
	if code != ExitOK || strings.Count(out, `"status":"pending"`)+strings.Count(out, `"status": "pending"`) != 3 {
		t.Fatalf("logs alone: exit %d, %s %s", code, out, errOut)
	}
	for _, kv := range srv.Env(t, moto.DefaultAccountID) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	code, out, errOut = runCLI(t, "", "events", "--cloudtrail", dir, "--live", "--format", "json", "--all")
	if code != ExitFailed {
		t.Fatalf("--live: exit %d, want 3; %s %s", code, out, errOut)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range doc.Findings {
		got[f.User+" "+*f.AccessKeyID] = string(f.Status)
	}
	sameStatuses(t, got, map[string]string{"alice " + aliceKey: "fail", "bob " + bobKey: "pass"})
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0], "carol") {
		t.Errorf("warnings %v, want one about carol's deleted key", doc.Warnings)
	}
}

// events --live reaches IAM through the Factory's AWS, like every command: here the in-memory
// IAM, with no AWS configuration at all.
func TestEventsLiveThroughFactory(t *testing.T) {
	const acct = trailgen.Account
	fake := memiam.New()
	fake.AddAccount(acct, "management")
	created := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	const key = "AKIAALICEEVENTS00001"
	fake.AddUser(acct, memiam.User{Name: "alice", Created: created, Console: true, Keys: []memiam.Key{{ID: key, Created: created.Add(time.Second)}}})
	dir := t.TempDir()
	records := []trailgen.Record{trailgen.CreateUser("alice", created), trailgen.CreateLoginProfile("alice", created), trailgen.CreateAccessKey("alice", key, created.Add(time.Second))}
	if _, err := trailgen.WriteFile(dir, trailgen.ObjectKey(acct, time.Now(), "factory"), trailgen.Gzip(trailgen.Log(records...))); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLIWith(t, memClients{fake, acct}, false, "", "events", "--cloudtrail", dir, "--live", "--format", "csv")
	if code != ExitFailed || !strings.Contains(out, key) || !strings.Contains(out, "fail") {
		t.Errorf("events --live: exit %d, want 3 with alice's key failing\n%s\n%s", code, out, errOut)
	}
	if n := fake.Calls(acct, "ListAccessKeys"); n == 0 {
		t.Error("the in-memory IAM was not asked")
	}
}
