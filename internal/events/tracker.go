package events

import (
	"sort"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// Tracker is the state machine over IAM events, applied in eventTime order. It remembers a user
// only while a key made now could still be a setup key (its creation plus the window), and after
// that only if it holds such a key; it remembers a key only while it is a setup key that was not
// deleted. So memory is bounded by the users created within one window plus the setup keys
// found, not by the number of events.
type Tracker struct {
	// KeysOfUnknownUsers also keeps keys of users whose creation is not in the events (made
	// before them), with a zero creation time, for a caller that reads the creation from IAM
	// (audit --since-report: the user may predate the events, the key not).
	KeysOfUnknownUsers bool

	window time.Duration
	users  map[userKey]*userState
	// recent holds users in creation order, to forget them once their window has closed.
	recent []*userState
	keys   map[string]*keyState
	seq    int
}

type userKey struct{ account, name string }

type userState struct {
	key      userKey
	arn      string
	created  time.Time
	password bool
	// keys counts this user's setup keys still tracked; the user is kept while it is not 0.
	keys int
	gone bool
}

type keyState struct {
	user     *userState
	id       string
	created  time.Time
	active   bool
	seq      int
	lastUsed time.Time
	service  string
	region   string
}

// NewTracker returns a tracker for the rule's setup window.
func NewTracker(window time.Duration) *Tracker {
	return &Tracker{window: window, users: map[userKey]*userState{}, keys: map[string]*keyState{}}
}

// Seed tells the tracker about a user that exists before the first event (audit --since-report:
// a user in the credential report). Only users created within a window of the first event can
// still get a setup key, so the caller passes only those.
func (t *Tracker) Seed(u setupkeys.User) {
	s := &userState{key: userKey{u.AccountID, u.Name}, arn: u.ARN, created: u.Created.UTC(), password: u.PasswordEnabled}
	t.users[s.key] = s
	t.recent = append(t.recent, s)
}

// Apply feeds one event to the state machine.
func (t *Tracker) Apply(ev Event) {
	t.forget(ev.Time)
	if ev.Name == "" {
		t.used(ev)
		return
	}
	// A call signed with a setup key is a use of it, whatever the call.
	if ev.UsedKeyID != "" {
		t.used(ev)
	}
	uk := userKey{ev.AccountID, ev.UserName}
	switch ev.Name {
	case CreateUser:
		if old := t.users[uk]; old != nil {
			t.drop(old)
		}
		s := &userState{key: uk, arn: ev.UserARN, created: ev.UserCreated}
		t.users[uk] = s
		t.recent = append(t.recent, s)
	case DeleteUser:
		if s := t.users[uk]; s != nil {
			t.drop(s)
		}
	case CreateLoginProfile:
		if s := t.users[uk]; s != nil {
			s.password = true
		}
	case DeleteLoginProfile:
		if s := t.users[uk]; s != nil {
			s.password = false
		}
	case CreateAccessKey:
		s := t.users[uk]
		if s == nil && t.KeysOfUnknownUsers {
			s = &userState{key: uk, arn: ev.UserARN}
			t.users[uk] = s
		}
		if s == nil || (!s.created.IsZero() && !rule.CreatedAtSetup(s.created, ev.KeyCreated, t.window)) {
			return // the user's creation is not in the logs, or the key came later: not a setup key
		}
		t.seq++
		t.keys[ev.AccessKeyID] = &keyState{user: s, id: ev.AccessKeyID, created: ev.KeyCreated, active: ev.KeyStatus != "Inactive", seq: t.seq}
		s.keys++
	case UpdateAccessKey:
		if k := t.keys[ev.AccessKeyID]; k != nil {
			k.active = ev.KeyStatus == "Active"
		}
	case DeleteAccessKey:
		if k := t.keys[ev.AccessKeyID]; k != nil {
			delete(t.keys, k.id)
			k.user.keys--
		}
	}
}

func (t *Tracker) used(ev Event) {
	k := t.keys[ev.UsedKeyID]
	if k == nil || ev.Time.Before(k.lastUsed) {
		return
	}
	k.lastUsed, k.service, k.region = ev.Time, serviceName(ev.Source), ev.Region
}

// serviceName is how IAM's last-used data names a service: "iam" for iam.amazonaws.com.
func serviceName(eventSource string) string {
	if i := len(eventSource) - len(".amazonaws.com"); i > 0 && eventSource[i:] == ".amazonaws.com" {
		return eventSource[:i]
	}
	return eventSource
}

// drop forgets a deleted or re-created user and its keys.
func (t *Tracker) drop(s *userState) {
	s.gone = true
	delete(t.users, s.key)
	if s.keys > 0 {
		for id, k := range t.keys {
			if k.user == s {
				delete(t.keys, id)
			}
		}
		s.keys = 0
	}
}

// forget drops users whose window closed before now and who hold no setup key.
func (t *Tracker) forget(now time.Time) {
	n := 0
	for n < len(t.recent) && t.recent[n].created.Add(t.window+time.Second).Before(now) {
		s := t.recent[n]
		if s.keys == 0 && !s.gone && t.users[s.key] == s {
			delete(t.users, s.key)
		}
		n++
	}
	if n > 0 {
		t.recent = append(t.recent[:0], t.recent[n:]...)
	}
}

// Tracked is how many users and keys the tracker holds now (for tests of its memory bound).
func (t *Tracker) Tracked() (users, keys int) { return len(t.users), len(t.keys) }

// Rows returns the users that hold setup keys at the end of the events, each with those keys
// (slots numbered in creation order) and the password state the logs show. A key used in the logs
// carries that use as its last use; otherwise LastUsed is zero: the logs do not show a use, which
// does not prove there was none (see Judge).
func (t *Tracker) Rows() []setupkeys.User {
	byUser := map[*userState][]*keyState{}
	for _, k := range t.keys {
		byUser[k.user] = append(byUser[k.user], k)
	}
	rows := make([]setupkeys.User, 0, len(byUser))
	for s, keys := range byUser {
		sort.Slice(keys, func(i, j int) bool { return keys[i].seq < keys[j].seq })
		u := setupkeys.User{AccountID: s.key.account, Name: s.key.name, ARN: s.arn, Created: s.created, PasswordEnabled: s.password}
		for i, k := range keys {
			status := "Active"
			if !k.active {
				status = "Inactive"
			}
			u.Keys = append(u.Keys, setupkeys.AccessKey{
				Slot: i + 1, ID: k.id, Active: k.active, Status: status, Created: k.created,
				LastUsed: k.lastUsed, LastUsedService: k.service, LastUsedRegion: k.region,
			})
		}
		rows = append(rows, u)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].AccountID != rows[j].AccountID {
			return rows[i].AccountID < rows[j].AccountID
		}
		return rows[i].Name < rows[j].Name
	})
	return rows
}
