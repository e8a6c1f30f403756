package events

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

// run streams files through a tracker and judges the rows from the logs alone.
func run(t *testing.T, files []LogFile, opts StreamOptions) ([]setupkeys.AccountResult, Stats, error) {
	t.Helper()
	tr := NewTracker(rule.DefaultWindow)
	stats, err := Stream(context.Background(), files, opts, func(ev Event) error { tr.Apply(ev); return nil })
	if err != nil {
		return nil, stats, err
	}
	return FromLogs(tr.Rows(), setupkeys.Source{Kind: setupkeys.SourceCloudTrail}, JudgeOptions{KeepPassing: true}), stats, nil
}

func statuses(results []setupkeys.AccountResult) map[string]setupkeys.Status {
	got := map[string]setupkeys.Status{}
	for _, r := range results {
		for _, f := range r.Findings {
			got[f.User+" "+*f.AccessKeyID] = f.Status
		}
	}
	return got
}

func TestStreamScenario(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir)
	files, err := LocalFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("found %d files, want 4 (gzipped and plain, nested)", len(files))
	}
	results, stats, err := run(t, files, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]setupkeys.Status{
		"alice AKIAEXAMPLEALICEKEY1": setupkeys.StatusPending, // console user, key at setup, no use in the logs
		"bob AKIAEXAMPLEBOBKEY001":   setupkeys.StatusPass,    // used (ec2) in the logs
		"grace AKIAEXAMPLEGRACEKEY1": setupkeys.StatusPending, // password added after the key
		"judy AKIAEXAMPLEJUDYKEY01":  setupkeys.StatusPending, // made her own key: requestParameters null
		// carol: key deleted; dave: key deactivated (its creation arrived in a later file);
		// erin: no console password; heidi: password deleted; ivan: user deleted;
		// frank: key two hours after the user.
	}
	got := statuses(results)
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k, s := range want {
		if got[k] != s {
			t.Errorf("%s: status %q, want %q", k, got[k], s)
		}
	}
	if len(results) != 1 || results[0].AccountID != trailgen.Account {
		t.Fatalf("results for accounts %+v, want one for %s", results, trailgen.Account)
	}
	if stats.Files != 4 || stats.Late != 0 {
		t.Errorf("stats %+v, want 4 files, none late", stats)
	}
	for _, f := range results[0].Findings {
		if f.Status == setupkeys.StatusPending && !strings.Contains(f.Reason, "pending") {
			t.Errorf("%s: reason %q does not say why it is pending", f.User, f.Reason)
		}
		if f.User == "alice" {
			if f.GapSeconds != 1 || f.ARN != "arn:aws:iam::123456789012:user/alice" || f.KeyCreated != trailgen.At(53, 13) {
				t.Errorf("alice's evidence: %+v", f)
			}
		}
	}
}

// Without putting events in order, dave's UpdateAccessKey (file 22:00) would come before his
// CreateAccessKey (file 22:05) and his deactivated key would look live.
func TestStreamOrdersAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir)
	files, err := LocalFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	var names []string
	_, err = Stream(context.Background(), files, StreamOptions{}, func(ev Event) error {
		if ev.Time.Before(last) {
			t.Errorf("%s at %s after %s", ev.Name, ev.Time, last)
		}
		last = ev.Time
		if ev.UserName == "dave" {
			names = append(names, ev.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "CreateUser,CreateLoginProfile,CreateAccessKey,UpdateAccessKey" {
		t.Errorf("dave's events in order %v", names)
	}
}

func TestStreamLateEventsCounted(t *testing.T) {
	dir := t.TempDir()
	// The second file, delivered two hours later, holds an event older than the first file's:
	// past the horizon, so it is applied late and counted.
	mustWrite(t, dir, trailgen.ObjectKey(trailgen.Account, trailgen.At(10, 0), "a"), trailgen.Log(trailgen.CreateUser("x", trailgen.At(9, 0))))
	mustWrite(t, dir, trailgen.ObjectKey(trailgen.Account, trailgen.At(130, 0), "b"), trailgen.Log(trailgen.CreateUser("y", trailgen.At(8, 0))))
	files, _ := LocalFiles(dir)
	_, stats, err := run(t, files, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Late != 1 {
		t.Errorf("late %d, want 1", stats.Late)
	}
}

func TestStreamSince(t *testing.T) {
	dir := t.TempDir()
	mustScenario(t, dir)
	files, _ := LocalFiles(dir)
	// From 21:50 on, alice's whole setup is seen; bob's user creation (21:40) is not.
	results, _, err := run(t, files, StreamOptions{Since: trailgen.At(50, 0)})
	if err != nil {
		t.Fatal(err)
	}
	got := statuses(results)
	if got["alice AKIAEXAMPLEALICEKEY1"] != setupkeys.StatusPending || got["bob AKIAEXAMPLEBOBKEY001"] != "" {
		t.Errorf("since 21:50: %v", got)
	}
}

func TestRecordedSample(t *testing.T) {
	files, err := LocalFiles("testdata/recorded")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_, err = Stream(context.Background(), files, StreamOptions{}, func(ev Event) error {
		got = append(got, ev.Name+"/"+ev.UserName+"/"+ev.AccessKeyID+"/"+ev.UsedKeyID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The failed CreateAccessKey (errorCode) and the call signed with a session key are dropped;
	// bob's ec2 call signed with his long-term key is a use event.
	want := []string{"CreateUser/alice//", "CreateLoginProfile/alice//", "CreateAccessKey/alice/AKIAEXAMPLEALICEKEY1/", "//" + "/AKIAEXAMPLEBOBKEY001"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events\n%v\nwant\n%v", got, want)
	}
}

func TestParseRecordFields(t *testing.T) {
	ev, keep, err := ParseRecord(logRecord(t, trailgen.CreateAccessKey("alice", "AKIAEXAMPLEALICEKEY1", trailgen.At(53, 13))), Position{File: "x"})
	if err != nil || !keep {
		t.Fatalf("keep %v, err %v", keep, err)
	}
	if ev.KeyCreated != time.Date(2024, 7, 30, 21, 53, 13, 0, time.UTC) || ev.AccountID != trailgen.Account || ev.KeyStatus != "Active" || ev.ID == "" {
		t.Errorf("event %+v", ev)
	}
	if _, err := ParseCreateDate("Jul 30, 2024 9:53:13 PM"); err != nil {
		t.Error(err)
	}
	if got, _ := ParseCreateDate("Jan 2, 2024 12:05:00 AM"); got != time.Date(2024, 1, 2, 0, 5, 0, 0, time.UTC) {
		t.Errorf("12 AM: %v", got)
	}
}

func logRecord(t *testing.T, r trailgen.Record) []byte {
	b := trailgen.Log(r)
	return b[len(`{"Records":[`) : len(b)-2]
}

func TestBadFiles(t *testing.T) {
	good := trailgen.Log(trailgen.CreateUser("alice", trailgen.At(1, 0)))
	noKey := trailgen.CreateAccessKey("alice", "AKIAEXAMPLEALICEKEY1", trailgen.At(1, 0))
	noKey["responseElements"] = trailgen.Record{"accessKey": trailgen.Record{"userName": "alice"}}
	badDate := trailgen.CreateAccessKey("alice", "AKIAEXAMPLEALICEKEY1", trailgen.At(1, 0))
	badDate["responseElements"].(trailgen.Record)["accessKey"].(trailgen.Record)["createDate"] = "yesterday"
	tests := []struct {
		name    string
		content []byte
		want    string // in the error, after the file name
	}{
		{"truncated gzip", trailgen.Gzip(good)[:40], "truncated"},
		{"damaged gzip checksum", func() []byte { b := trailgen.Gzip(good); b[len(b)-6] ^= 0xff; return b }(), "truncated or damaged"},
		{"not json", []byte("hello"), ":1:1"},
		{"syntax error", []byte("{\"Records\":[\n{\"eventTime\":}]}"), ":2:14: record 0"},
		{"unknown top key", []byte(`{"records":[]}`), `unknown key "records"`},
		{"duplicate Records", []byte(`{"Records":[],"Records":[]}`), `duplicate object member name "Records"`},
		{"duplicate field in record", []byte(`{"Records":[{"eventName":"CreateUser","eventName":"DeleteUser"}]}`), "record 0"},
		{"missing access key", trailgen.Log(trailgen.CreateUser("alice", trailgen.At(1, 0)), noKey), "record 1: iam.amazonaws.com CreateAccessKey: responseElements.accessKey"},
		{"bad createDate", trailgen.Log(badDate), "createDate"},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), "data after the log object"},
		{"no Records", []byte(`{}`), `no "Records"`},
		{"empty", nil, "not a CloudTrail log file"},
		{"records not array", []byte(`{"Records":{}}`), "Records"},
		{"record not object", []byte(`{"Records":[1]}`), "record 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "log.json.gz")
			if err := os.WriteFile(p, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			files, err := LocalFiles(p)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = run(t, files, StreamOptions{})
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FileError", err, err)
			}
			t.Log(err)
			if !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to start with the file and contain %q", err, tt.want)
			}
		})
	}
}

// The tracker forgets users whose window closed without a setup key, so a year of users holds
// only one window's worth.
func TestTrackerMemoryFlat(t *testing.T) {
	tr := NewTracker(10 * time.Minute)
	start := trailgen.Day
	maxUsers := 0
	for i := 0; i < 100_000; i++ {
		now := start.Add(time.Duration(i) * time.Minute)
		name := "u" + string(rune('a'+i%26)) + time.Duration(i).String()
		tr.Apply(Event{Name: CreateUser, Time: now, AccountID: trailgen.Account, UserName: name, UserARN: "arn:aws:iam::123456789012:user/" + name, UserCreated: now})
		tr.Apply(Event{Name: CreateLoginProfile, Time: now, AccountID: trailgen.Account, UserName: name})
		if i%1000 == 0 { // now and then a setup key, which is kept
			tr.Apply(Event{Name: CreateAccessKey, Time: now, AccountID: trailgen.Account, UserName: name, AccessKeyID: "AKIAEXAMPLE" + time.Duration(i).String(), KeyCreated: now, KeyStatus: "Active"})
		}
		if u, _ := tr.Tracked(); u > maxUsers {
			maxUsers = u
		}
	}
	users, keys := tr.Tracked()
	if keys != 100 {
		t.Errorf("%d setup keys tracked, want 100", keys)
	}
	if maxUsers > 12+100 {
		t.Errorf("tracked up to %d users at once; want at most a window's worth (12) plus the 100 with setup keys", maxUsers)
	}
	if users > 12+100 {
		t.Errorf("%d users tracked at the end", users)
	}
}

// Stream holds only the events of the last horizon of deliveries.
func TestStreamMemoryFlat(t *testing.T) {
	dir := t.TempDir()
	const files, perFile = 200, 50
	for f := 0; f < files; f++ {
		delivered := trailgen.Day.Add(time.Duration(f) * 5 * time.Minute)
		var recs []trailgen.Record
		for i := 0; i < perFile; i++ {
			recs = append(recs, trailgen.UserCall(DeleteUser, "nobody", delivered.Add(-time.Duration(i)*time.Second)))
		}
		mustWrite(t, dir, trailgen.ObjectKey(trailgen.Account, delivered, "m"), trailgen.Gzip(trailgen.Log(recs...)))
	}
	list, _ := LocalFiles(dir)
	stats, err := Stream(context.Background(), list, StreamOptions{}, func(Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != files*perFile {
		t.Errorf("%d events, want %d", stats.Events, files*perFile)
	}
	// An hour of 5-minute deliveries is 12 files, plus the one being read.
	if stats.MaxPending > 14*perFile {
		t.Errorf("up to %d events waited in memory, want at most %d", stats.MaxPending, 14*perFile)
	}
}

func mustWrite(t *testing.T, dir, rel string, b []byte) {
	t.Helper()
	if _, err := trailgen.WriteFile(dir, rel, b); err != nil {
		t.Fatal(err)
	}
}

func mustScenario(t *testing.T, dir string) {
	t.Helper()
	if err := trailgen.WriteScenario(dir); err != nil {
		t.Fatal(err)
	}
}
