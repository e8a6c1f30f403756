package rule

import (
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestEvaluate(t *testing.T) {
	userCreated := ts("2020-03-01T10:00:00Z")
	key := func(slot int, active bool, created, lastUsed string) setupkeys.AccessKey {
		k := setupkeys.AccessKey{Slot: slot, Active: active, Created: ts(created)}
		if lastUsed != "" {
			k.LastUsed = ts(lastUsed)
		}
		return k
	}
	console := func(created time.Time, keys ...setupkeys.AccessKey) setupkeys.User {
		return setupkeys.User{AccountID: "111122223333", Name: "alice", ARN: "arn:aws:iam::111122223333:user/alice", Created: created, PasswordEnabled: true, Keys: keys}
	}
	tests := []struct {
		name   string
		user   setupkeys.User
		window time.Duration
		want   map[int]setupkeys.Status // slot -> status; absent slot = no finding
	}{
		{"same second, never used", console(userCreated, key(1, true, "2020-03-01T10:00:00Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusFail}},
		{"one second before the user (report precision)", console(userCreated, key(1, true, "2020-03-01T09:59:59Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusFail}},
		{"two seconds before the user", console(userCreated, key(1, true, "2020-03-01T09:59:58Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusPass}},
		{"exactly at the window's end", console(userCreated, key(1, true, "2020-03-01T10:10:00Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusFail}},
		{"one second past the window", console(userCreated, key(1, true, "2020-03-01T10:10:01Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusPass}},
		{"custom window admits a later key", console(userCreated, key(1, true, "2020-03-01T10:25:00Z", "")), 30 * time.Minute, map[int]setupkeys.Status{1: setupkeys.StatusFail}},
		{"setup key that was used", console(userCreated, key(1, true, "2020-03-01T10:00:05Z", "2020-04-01T00:00:00Z")), 0, map[int]setupkeys.Status{1: setupkeys.StatusPass}},
		{"inactive setup key is out of scope", console(userCreated, key(1, false, "2020-03-01T10:00:05Z", "")), 0, map[int]setupkeys.Status{}},
		{"slot 2 is the setup key, slot 1 newer", console(userCreated, key(1, true, "2021-01-01T00:00:00Z", ""), key(2, true, "2020-03-01T10:01:00Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusPass, 2: setupkeys.StatusFail}},
		{"both slots at setup", console(userCreated, key(1, true, "2020-03-01T10:00:00Z", ""), key(2, true, "2020-03-01T10:00:00Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusFail, 2: setupkeys.StatusFail}},
		{"before usage tracking began: review", console(ts("2014-06-01T00:00:00Z"), key(1, true, "2014-06-01T00:00:03Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusReview}},
		{"created the day tracking began: fail", console(ts("2015-04-22T00:00:00Z"), key(1, true, "2015-04-22T00:00:00Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusFail}},
		{"a second before tracking began: review", console(ts("2015-04-21T23:59:59Z"), key(1, true, "2015-04-21T23:59:59Z", "")), 0, map[int]setupkeys.Status{1: setupkeys.StatusReview}},
		{"old key with a use date passes", console(ts("2014-06-01T00:00:00Z"), key(1, true, "2014-06-01T00:00:03Z", "2016-01-01T00:00:00Z")), 0, map[int]setupkeys.Status{1: setupkeys.StatusPass}},
		{"no console password: out of scope", func() setupkeys.User {
			u := console(userCreated, key(1, true, "2020-03-01T10:00:00Z", ""))
			u.PasswordEnabled = false
			return u
		}(), 0, map[int]setupkeys.Status{}},
		{"root is skipped", func() setupkeys.User {
			u := console(userCreated, key(1, true, "2020-03-01T10:00:00Z", ""))
			u.IsRoot = true
			return u
		}(), 0, map[int]setupkeys.Status{}},
		{"user with no keys", console(userCreated), 0, map[int]setupkeys.Status{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "r.csv"}
			got := Evaluate(tt.user, src, Options{Window: tt.window})
			for _, k := range tt.user.Keys {
				want, judged := tt.want[k.Slot]
				if flagged := judged && want != setupkeys.StatusPass; Flags(tt.user, k, Options{Window: tt.window}) != flagged {
					t.Errorf("slot %d: Flags %v, but Judge says %q", k.Slot, !flagged, want)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings %+v, want %d", len(got), got, len(tt.want))
			}
			for _, f := range got {
				want, ok := tt.want[f.KeySlot]
				if !ok {
					t.Fatalf("unexpected finding for slot %d: %+v", f.KeySlot, f)
				}
				if f.Status != want {
					t.Errorf("slot %d: status %s, want %s (reason %q)", f.KeySlot, f.Status, want, f.Reason)
				}
				if f.Reason == "" || f.AccountID != "111122223333" || f.ARN != tt.user.ARN || f.Source != src {
					t.Errorf("slot %d: evidence missing: %+v", f.KeySlot, f)
				}
				if !strings.HasPrefix(f.ID, "sk-") {
					t.Errorf("slot %d: ID %q", f.KeySlot, f.ID)
				}
			}
		})
	}
}

func TestEvaluateEvidence(t *testing.T) {
	u := setupkeys.User{
		AccountID: "111122223333", Name: "bob", ARN: "arn:aws:iam::111122223333:user/ops/bob",
		Created: ts("2020-03-01T10:00:00Z"), PasswordEnabled: true, Line: 7,
		Keys: []setupkeys.AccessKey{
			{Slot: 1, ID: "AKIAEXAMPLE000000001", Active: true, Created: ts("2020-03-01T10:03:12Z")},
			{Slot: 2, Active: true, Created: ts("2020-03-01T10:00:01Z"), LastUsed: ts("2020-05-01T00:00:00Z"), LastUsedService: "s3"},
		},
	}
	got := Evaluate(u, setupkeys.Source{Kind: setupkeys.SourceLiveAPI}, Options{})
	if len(got) != 2 {
		t.Fatalf("got %d findings, want 2", len(got))
	}
	f := got[0]
	if f.AccessKeyID == nil || *f.AccessKeyID != "AKIAEXAMPLE000000001" {
		t.Errorf("access key ID = %v, want AKIAEXAMPLE000000001", f.AccessKeyID)
	}
	if f.GapSeconds != 192 || f.LastUsed != nil || f.ReportLine != 7 || f.User != "bob" {
		t.Errorf("evidence wrong: %+v", f)
	}
	if want := "key created at setup (3m12s after the user) and never used"; f.Reason != want {
		t.Errorf("reason %q, want %q", f.Reason, want)
	}
	if got[1].AccessKeyID != nil || got[1].LastUsed == nil || got[1].LastUsedService != "s3" {
		t.Errorf("slot 2 evidence wrong: %+v", got[1])
	}
}

func TestCreatedAtSetupBounds(t *testing.T) {
	u := ts("2020-01-01T00:00:00Z")
	for _, tt := range []struct {
		offset time.Duration
		want   bool
	}{
		{-2 * time.Second, false}, {-time.Second, true}, {0, true}, {10 * time.Minute, true}, {10*time.Minute + time.Second, false}, {-48 * time.Hour, false},
	} {
		if got := CreatedAtSetup(u, u.Add(tt.offset), DefaultWindow); got != tt.want {
			t.Errorf("offset %s: got %v, want %v", tt.offset, got, tt.want)
		}
	}
}

func TestRelativeGap(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s after the user", -time.Second: "1s before the user", 192 * time.Second: "3m12s after the user", 49 * time.Hour: "2d1h after the user"} {
		if got := relativeGap(d); got != want {
			t.Errorf("relativeGap(%s) = %q, want %q", d, got, want)
		}
	}
}

// Two keys of one user made in the same second keep apart; a key's ID does not depend on its slot.
func TestFindingIDs(t *testing.T) {
	u := setupkeys.User{AccountID: "111122223333", Name: "a", ARN: "arn:aws:iam::111122223333:user/a", Created: ts("2020-03-01T10:00:00Z"), PasswordEnabled: true}
	same := ts("2020-03-01T10:00:00Z")
	u.Keys = []setupkeys.AccessKey{{Slot: 1, Active: true, Created: same}, {Slot: 2, Active: true, Created: same}}
	twins := Evaluate(u, setupkeys.Source{}, Options{})
	if len(twins) != 2 || twins[0].ID == twins[1].ID {
		t.Fatalf("twin keys share an ID: %+v", twins)
	}
	u.Keys = []setupkeys.AccessKey{{Slot: 2, Active: true, Created: same}}
	inSlot2 := Evaluate(u, setupkeys.Source{}, Options{})
	u.Keys = []setupkeys.AccessKey{{Slot: 1, Active: true, Created: same.Add(400 * time.Millisecond)}}
	inSlot1 := Evaluate(u, setupkeys.Source{}, Options{})
	if inSlot1[0].ID != inSlot2[0].ID {
		t.Errorf("the same key in slot 1 (API order, sub-second time) and slot 2 (report) got IDs %s and %s", inSlot1[0].ID, inSlot2[0].ID)
	}
}
