package keycheck

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/rule"
)

var (
	userAt = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	old    = time.Date(2014, 5, 1, 8, 0, 0, 0, time.UTC)
)

func live(id string, created time.Time, status string) LiveKey {
	return LiveKey{AccessKey: setupkeys.AccessKey{ID: id, Status: status, Active: status == "Active", Created: created}, LastUsedKnown: true}
}

func used(k LiveKey, at time.Time) LiveKey {
	k.LastUsed = at
	return k
}

func unread(k LiveKey) LiveKey {
	k.LastUsedKnown = false
	return k
}

func gone(k LiveKey) LiveKey {
	k.Gone = true
	return k
}

// report is a request as a credential report makes it: the user's creation known, keys by second.
func report(wants ...Want) Request {
	return Request{AccountID: "111122223333", User: "alice", ARN: "arn:aws:iam::111122223333:user/alice", UserCreated: userAt, Keys: wants}
}

// planned is a request as a plan entry makes it: keys by ID, the user's creation from GetUser.
func planned(wants ...Want) Request {
	r := report(wants...)
	r.UserCreated = time.Time{}
	return r
}

func withPassword(keys ...LiveKey) Facts {
	return Facts{Keys: keys, PasswordKnown: true, Password: true}
}

// outcome prints a decision compactly: "slot:ID=status" when judged, "slot:ID!cause" when not.
func outcome(d Decision) string {
	id := d.Key.ID
	if id == "" {
		id = "-"
	}
	if d.Judged {
		return fmt.Sprintf("%d:%s=%s", d.Want.Slot, id, d.Verdict.Status)
	}
	return fmt.Sprintf("%d:%s!%s", d.Want.Slot, id, d.Cause)
}

func TestDecide(t *testing.T) {
	sec := userAt.Add(2 * time.Second)
	tests := []struct {
		name        string
		req         Request
		facts       Facts
		want        []string
		wantUnasked []string
		wantReason  []string // substrings of each decision's reason, in order ("" skips)
	}{
		{
			name:  "report key, live key active and never used: fail with its ID",
			req:   report(Want{Slot: 1, Created: sec}),
			facts: withPassword(live("AKIA1", sec, "Active")),
			want:  []string{"1:AKIA1=fail"},
		},
		{
			name:  "matched to the second: a report time is whole seconds, the live one need not be",
			req:   report(Want{Slot: 1, Created: sec}),
			facts: withPassword(live("AKIA1", sec.Add(900*time.Millisecond), "Active")),
			want:  []string{"1:AKIA1=fail"},
		},
		{
			name:       "a live key one second off is not the key",
			req:        report(Want{Slot: 1, Created: sec}),
			facts:      withPassword(live("AKIA1", sec.Add(time.Second), "Active")),
			want:       []string{"1:-!key-gone"},
			wantReason: []string{"no key of the user created in that second exists now"},
		},
		{
			name:       "key used since: judged pass, the reason says when",
			req:        report(Want{Slot: 1, Created: sec}),
			facts:      withPassword(used(live("AKIA1", sec, "Active"), userAt.Add(48*time.Hour))),
			want:       []string{"1:AKIA1=pass"},
			wantReason: []string{"used on 2024-03-03T10:00:00Z"},
		},
		{
			name:       "key deactivated since: not judged",
			req:        report(Want{Slot: 2, Created: sec}),
			facts:      withPassword(live("AKIA1", sec, "Inactive")),
			want:       []string{"2:AKIA1!inactive"},
			wantReason: []string{"the key is Inactive now"},
		},
		{
			name:  "key expired since: not judged",
			req:   report(Want{Slot: 1, Created: sec}),
			facts: withPassword(live("AKIA1", sec, "Expired")),
			want:  []string{"1:AKIA1!inactive"},
		},
		{
			name:  "key deleted since: gone",
			req:   report(Want{Slot: 1, Created: sec}),
			facts: withPassword(),
			want:  []string{"1:-!key-gone"},
		},
		{
			name:       "key deleted between ListAccessKeys and GetAccessKeyLastUsed: gone",
			req:        report(Want{Slot: 1, Created: sec}),
			facts:      withPassword(gone(live("AKIA1", sec, "Active"))),
			want:       []string{"1:AKIA1!key-gone"},
			wantReason: []string{"deleted while it was checked"},
		},
		{
			name:       "user deleted since: every key",
			req:        report(Want{Slot: 1, Created: sec}, Want{Slot: 2, Created: sec.Add(time.Minute)}),
			facts:      Facts{UserGone: true},
			want:       []string{"1:-!user-gone", "2:-!user-gone"},
			wantReason: []string{"the user no longer exists", "the user no longer exists"},
		},
		{
			name:       "console password removed since: the rule does not apply",
			req:        report(Want{Slot: 1, Created: sec}),
			facts:      Facts{Keys: []LiveKey{unread(live("AKIA1", sec, "Active"))}, PasswordKnown: true},
			want:       []string{"1:AKIA1!no-password"},
			wantReason: []string{"no console password now"},
		},
		{
			name:  "twins made in one second, both never used: each want gets its own key, by key ID",
			req:   report(Want{Slot: 2, Created: sec}, Want{Slot: 1, Created: sec}),
			facts: withPassword(live("AKIA2", sec, "Active"), live("AKIA1", sec.Add(300*time.Millisecond), "Active")),
			want:  []string{"2:AKIA2=fail", "1:AKIA1=fail"},
		},
		{
			name:  "twins, one used since: the lower slot takes the key still flagged",
			req:   report(Want{Slot: 1, Created: sec}, Want{Slot: 2, Created: sec}),
			facts: withPassword(used(live("AKIA1", sec, "Active"), userAt.Add(time.Hour)), live("AKIA2", sec, "Active")),
			want:  []string{"1:AKIA2=fail", "2:AKIA1=pass"},
		},
		{
			name:  "twins, the report flagged one (the other was used): the unused one is it",
			req:   report(Want{Slot: 2, Created: sec}),
			facts: withPassword(used(live("AKIA1", sec, "Active"), userAt.Add(time.Hour)), live("AKIA2", sec, "Active")),
			want:  []string{"2:AKIA2=fail"},
		},
		{
			name:        "twins, the report flagged one, both flagged now (one re-activated since): the other is unasked, not dropped silently",
			req:         report(Want{Slot: 1, Created: sec}),
			facts:       withPassword(live("AKIA2", sec, "Active"), live("AKIA1", sec, "Active")),
			want:        []string{"1:AKIA1=fail"},
			wantUnasked: []string{"0:AKIA2=fail"},
		},
		{
			name:  "twins, one deactivated since: the active one is paired first",
			req:   report(Want{Slot: 1, Created: sec}, Want{Slot: 2, Created: sec}),
			facts: withPassword(live("AKIA1", sec, "Inactive"), live("AKIA2", sec, "Active")),
			want:  []string{"1:AKIA2=fail", "2:AKIA1!inactive"},
		},
		{
			name:  "twins, one deleted since: the other want finds nothing",
			req:   report(Want{Slot: 1, Created: sec}, Want{Slot: 2, Created: sec}),
			facts: withPassword(live("AKIA2", sec, "Active")),
			want:  []string{"1:AKIA2=fail", "2:-!key-gone"},
		},
		{
			name:  "review: made at setup before IAM tracked key use",
			req:   Request{User: "veteran", UserCreated: old, Keys: []Want{{Slot: 1, Created: old.Add(time.Minute)}}},
			facts: withPassword(live("AKIA1", old.Add(time.Minute), "Active")),
			want:  []string{"1:AKIA1=review"},
		},
		{
			name:  "plan entry: the key by ID, the user's creation from GetUser, fail",
			req:   planned(Want{Slot: 1, ID: "AKIA1", Created: sec}),
			facts: Facts{Keys: []LiveKey{live("AKIA1", sec, "Active")}, PasswordKnown: true, Password: true, UserCreated: userAt},
			want:  []string{"1:AKIA1=fail"},
		},
		{
			name: "plan entry: the user's creation matches the plan's, to the second",
			req: func() Request {
				r := planned(Want{Slot: 1, ID: "AKIA1", Created: sec})
				r.ExpectedUserCreated = userAt.Add(400 * time.Millisecond)
				return r
			}(),
			facts: Facts{Keys: []LiveKey{live("AKIA1", sec, "Active")}, PasswordKnown: true, Password: true, UserCreated: userAt},
			want:  []string{"1:AKIA1=fail"},
		},
		{
			name: "plan entry: a user created at another time than the plan's is not the plan's user",
			req: func() Request {
				r := planned(Want{Slot: 1, ID: "AKIA1", Created: sec})
				r.ExpectedUserCreated = userAt.Add(-time.Hour)
				return r
			}(),
			facts:      Facts{Keys: []LiveKey{live("AKIA1", sec, "Active")}, PasswordKnown: true, Password: true, UserCreated: userAt},
			want:       []string{"1:AKIA1!user-created-differs"},
			wantReason: []string{"the user was created at 2024-03-01T10:00:00Z, not at the expected 2024-03-01T09:00:00Z"},
		},
		{
			name:       "plan entry: key made outside the window of the user's creation passes",
			req:        planned(Want{Slot: 1, ID: "AKIA1", Created: userAt.Add(3 * time.Hour)}),
			facts:      Facts{Keys: []LiveKey{unread(live("AKIA1", userAt.Add(3*time.Hour), "Active"))}, PasswordKnown: true, Password: true, UserCreated: userAt},
			want:       []string{"1:AKIA1=pass"},
			wantReason: []string{"outside the 10m0s setup window"},
		},
		{
			name:  "plan entry: the window is the caller's",
			req:   planned(Want{Slot: 1, ID: "AKIA1", Created: userAt.Add(3 * time.Hour)}),
			facts: Facts{Keys: []LiveKey{live("AKIA1", userAt.Add(3*time.Hour), "Active")}, PasswordKnown: true, Password: true, UserCreated: userAt},
			want:  []string{"1:AKIA1=fail"},
		},
		{
			name:       "plan entry: the key belongs to another user",
			req:        planned(Want{Slot: 1, ID: "AKIABOB", Created: sec}),
			facts:      Facts{Keys: []LiveKey{live("AKIA1", sec, "Active")}, Owners: map[string]string{"AKIABOB": "bob"}},
			want:       []string{"1:-!other-user"},
			wantReason: []string{"the key belongs to user bob, not alice"},
		},
		{
			name:       "plan entry: the key no longer exists",
			req:        planned(Want{Slot: 1, ID: "AKIA9", Created: sec}),
			facts:      Facts{Owners: map[string]string{"AKIA9": ""}},
			want:       []string{"1:-!key-gone"},
			wantReason: []string{"the key no longer exists"},
		},
		{
			name:       "plan entry: the key's creation differs from the plan's",
			req:        planned(Want{Slot: 1, ID: "AKIA1", Created: sec}),
			facts:      Facts{Keys: []LiveKey{live("AKIA1", sec.Add(time.Hour), "Active")}},
			want:       []string{"1:AKIA1!created-differs"},
			wantReason: []string{"create date 2024-03-01T11:00:02Z differs from the expected 2024-03-01T10:00:02Z"},
		},
		{
			name:  "plan entry: Inactive because the caller deactivated it: judged as before",
			req:   planned(Want{Slot: 1, ID: "AKIA1", Created: sec, DeactivatedByCaller: true}),
			facts: Facts{Keys: []LiveKey{live("AKIA1", sec, "Inactive")}, PasswordKnown: true, Password: true, UserCreated: userAt},
			want:  []string{"1:AKIA1=fail"},
		},
		{
			name:  "plan entry: Inactive by someone else",
			req:   planned(Want{Slot: 1, ID: "AKIA1", Created: sec}),
			facts: Facts{Keys: []LiveKey{live("AKIA1", sec, "Inactive")}},
			want:  []string{"1:AKIA1!inactive"},
		},
		{
			name:  "a key named by ID is not also a candidate of its second",
			req:   report(Want{Slot: 1, ID: "AKIA1", Created: sec}, Want{Slot: 2, Created: sec}),
			facts: withPassword(live("AKIA1", sec, "Active"), live("AKIA2", sec, "Active")),
			want:  []string{"1:AKIA1=fail", "2:AKIA2=fail"},
		},
		{
			name:       "partial facts are never a verdict: the password not read",
			req:        report(Want{Slot: 1, Created: sec}),
			facts:      Facts{Keys: []LiveKey{live("AKIA1", sec, "Active")}},
			want:       []string{"1:AKIA1!unchecked"},
			wantReason: []string{"console password was not checked"},
		},
		{
			name:  "partial facts: last use not read for a key at setup",
			req:   report(Want{Slot: 1, Created: sec}),
			facts: withPassword(unread(live("AKIA1", sec, "Active"))),
			want:  []string{"1:AKIA1!unchecked"},
		},
		{
			name:  "partial facts: the user's creation not read",
			req:   planned(Want{Slot: 1, ID: "AKIA1", Created: sec}),
			facts: withPassword(live("AKIA1", sec, "Active")),
			want:  []string{"1:AKIA1!unchecked"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := rule.Options{}
			if strings.Contains(tt.name, "window is the caller's") {
				opts.Window = 4 * time.Hour
			}
			res := Decide(tt.req, tt.facts, opts)
			var got, unasked []string
			for _, d := range res.Keys {
				got = append(got, outcome(d))
			}
			for _, d := range res.Unasked {
				unasked = append(unasked, outcome(d))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("decisions = %v\nwant        %v", got, tt.want)
			}
			if !slices.Equal(unasked, tt.wantUnasked) {
				t.Errorf("unasked = %v, want %v", unasked, tt.wantUnasked)
			}
			for i, sub := range tt.wantReason {
				if sub != "" && !strings.Contains(res.Keys[i].Reason, sub) {
					t.Errorf("decision %d reason %q, want %q in it", i, res.Keys[i].Reason, sub)
				}
			}
			for _, d := range res.Keys {
				if d.Judged != (d.Cause == "") || d.Reason == "" {
					t.Errorf("decision %s: judged %v, cause %q, reason %q", outcome(d), d.Judged, d.Cause, d.Reason)
				}
				if d.Judged && (d.Verdict.Key.ID != d.Key.ID || d.Verdict.Key.Slot != d.Want.Slot || d.Key.Slot != d.Want.Slot) {
					t.Errorf("decision %s: verdict key %+v, key %+v", outcome(d), d.Verdict.Key, d.Key)
				}
			}
			// Pair pairs the same way without judging: the same keys, causes and leftovers.
			paired := Pair(tt.req, tt.facts, opts)
			for i, p := range paired.Keys {
				d := res.Keys[i]
				if p.Judged || p.Key.ID != d.Key.ID || p.Key.Slot != d.Key.Slot || p.Cause != d.Cause || p.Ready() != d.Judged {
					t.Errorf("key %d: Pair %+v, Decide %+v", i, p, d)
				}
			}
			if len(paired.Unasked) != len(res.Unasked) || len(paired.User.Keys) != len(res.User.Keys) {
				t.Errorf("Pair: %d unasked, %d user keys; Decide: %d, %d", len(paired.Unasked), len(paired.User.Keys), len(res.Unasked), len(res.User.Keys))
			}
			// The judged keys make the user for findings; its creation is the one judged by.
			if n := len(res.User.Keys); n != countJudged(res.Keys) {
				t.Errorf("User.Keys has %d keys, %d judged", n, countJudged(res.Keys))
			}
			if want := userCreated(tt.req, tt.facts); !res.User.Created.Equal(want) {
				t.Errorf("User.Created = %v, want %v", res.User.Created, want)
			}
		})
	}
}

func countJudged(ds []Decision) int {
	n := 0
	for _, d := range ds {
		if d.Judged {
			n++
		}
	}
	return n
}

// A finding made from a decision carries the live key ID and the caller's slot.
func TestDecisionMakesFinding(t *testing.T) {
	sec := userAt.Add(time.Second)
	res := Decide(report(Want{Slot: 2, Created: sec}), withPassword(live("AKIAFAKE000000000007", sec, "Active")), rule.Options{})
	d := res.Keys[0]
	f := rule.NewFinding(res.User, d.Verdict, setupkeys.Source{Kind: setupkeys.SourceLiveReport})
	if f.AccessKeyID == nil || *f.AccessKeyID != "AKIAFAKE000000000007" || f.KeySlot != 2 || f.Status != setupkeys.StatusFail || f.User != "alice" {
		t.Errorf("finding = %+v", f)
	}
}

func TestNeeds(t *testing.T) {
	sec := userAt.Add(2 * time.Second)
	tests := []struct {
		name  string
		req   Request
		facts Facts
		want  string
	}{
		{"user gone: nothing", report(Want{Slot: 1, Created: sec}), Facts{UserGone: true}, ""},
		{"no active candidate: no password check", report(Want{Slot: 1, Created: sec}), Facts{Keys: []LiveKey{live("AKIA1", sec, "Inactive")}}, ""},
		{"no key in the second: nothing", report(Want{Slot: 1, Created: sec}), Facts{Keys: []LiveKey{live("AKIA1", sec.Add(time.Hour), "Active")}}, ""},
		{"an active candidate: the password first", report(Want{Slot: 1, Created: sec}), Facts{Keys: []LiveKey{unread(live("AKIA1", sec, "Active"))}}, "password"},
		{"no password: nothing more", report(Want{Slot: 1, Created: sec}), Facts{Keys: []LiveKey{unread(live("AKIA1", sec, "Active"))}, PasswordKnown: true}, ""},
		{"password, report creation: last use", report(Want{Slot: 1, Created: sec}), withPassword(unread(live("AKIA1", sec, "Active"))), "lastused:AKIA1"},
		{"last use read: nothing", report(Want{Slot: 1, Created: sec}), withPassword(live("AKIA1", sec, "Active")), ""},
		{"last use only of active keys", report(Want{Slot: 1, Created: sec}, Want{Slot: 2, Created: sec}),
			withPassword(unread(live("AKIA1", sec, "Inactive")), unread(live("AKIA2", sec, "Active"))), "lastused:AKIA2"},
		{"plan entry: the user's creation before last use", planned(Want{Slot: 1, ID: "AKIA1", Created: sec}), withPassword(unread(live("AKIA1", sec, "Active"))), "user"},
		{"plan entry outside the window: no last use", planned(Want{Slot: 1, ID: "AKIA1", Created: userAt.Add(time.Hour)}),
			Facts{Keys: []LiveKey{unread(live("AKIA1", userAt.Add(time.Hour), "Active"))}, PasswordKnown: true, Password: true, UserCreated: userAt}, ""},
		{"every last use asked: also outside the window", Request{User: "alice", UserCreated: userAt, EveryLastUse: true, Keys: []Want{{Slot: 1, ID: "AKIA1", Created: userAt.Add(time.Hour)}}},
			withPassword(unread(live("AKIA1", userAt.Add(time.Hour), "Active"))), "lastused:AKIA1"},
		{"plan entry not among the user's keys: whose is it", planned(Want{Slot: 1, ID: "AKIABOB", Created: sec}), Facts{}, "owners:AKIABOB"},
		{"owner asked: nothing", planned(Want{Slot: 1, ID: "AKIABOB", Created: sec}), Facts{Owners: map[string]string{"AKIABOB": "bob"}}, ""},
		{"plan entry with another creation: nothing", planned(Want{Slot: 1, ID: "AKIA1", Created: sec}), Facts{Keys: []LiveKey{unread(live("AKIA1", sec.Add(time.Hour), "Active"))}}, ""},
		{"plan entry deactivated by the caller: still checked", planned(Want{Slot: 1, ID: "AKIA1", Created: sec, DeactivatedByCaller: true}), Facts{Keys: []LiveKey{unread(live("AKIA1", sec, "Inactive"))}}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Needs(tt.req, tt.facts, rule.Options{})
			var parts []string
			if len(n.Owners) > 0 {
				parts = append(parts, "owners:"+strings.Join(n.Owners, ","))
			}
			if n.Password {
				parts = append(parts, "password")
			}
			if n.User {
				parts = append(parts, "user")
			}
			if len(n.LastUsed) > 0 {
				parts = append(parts, "lastused:"+strings.Join(n.LastUsed, ","))
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("Needs = %q, want %q", got, tt.want)
			}
			if n.None() != (tt.want == "") {
				t.Errorf("None() = %v", n.None())
			}
		})
	}
}
