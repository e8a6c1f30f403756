package fakeaws

import (
	"encoding/base32"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"
)

// User is an IAM user to seed (AddUser) and what the lookups (User, Keys) return.
type User struct {
	Name string
	// Path defaults to "/".
	Path string
	// ID (the "AIDA..." unique ID) is generated when empty.
	ID string
	// Created is the user's creation time (truncated to the second).
	Created time.Time
	// Console is the login profile; nil for a user with no console password.
	Console *Console
	// MFA sets the report's mfa_active.
	MFA bool
	// Keys are the user's access keys, at most 2; Keys[i] is in slot i+1 (see SlotOrder). A
	// nil-like Key (empty Created and ID) is not allowed: leave it out.
	Keys []Key
	// Tags are returned by ListUserTags, in this order.
	Tags []Tag

	// ARN is filled in by lookups (ignored by AddUser).
	ARN string
}

// Console is a user's login profile (console password).
type Console struct {
	// Created is the login profile's creation time: password_last_changed in the report.
	Created time.Time
	// PasswordLastUsed: zero means never used (report "no_information", no
	// PasswordLastUsed in GetUser).
	PasswordLastUsed time.Time
	// NextRotation, if set, is the report's password_next_rotation (else N/A).
	NextRotation time.Time
	// ResetRequired is GetLoginProfile's PasswordResetRequired.
	ResetRequired bool
}

// Key is an access key.
type Key struct {
	// ID ("AKIA...") is generated when empty.
	ID string
	// Status is "Active" (the default when empty), "Inactive" or "Expired".
	Status string
	// Created is the key's creation time (truncated to the second).
	Created time.Time
	// LastUsed: zero means never used (report N/A; GetAccessKeyLastUsed without LastUsedDate
	// and with ServiceName and Region "N/A", as AWS answers).
	LastUsed time.Time
	// LastUsedService and LastUsedRegion go with LastUsed; empty means "N/A" (S3 use has no
	// region).
	LastUsedService string
	LastUsedRegion  string

	// Slot (1 or 2) is filled in by lookups (ignored by AddUser).
	Slot int
}

// Tag is an IAM tag.
type Tag struct{ Key, Value string }

// AccountConfig is an account's settings.
type AccountConfig struct {
	Name string
	// Email defaults to <name>@example.com (lower case, spaces removed).
	Email string
	// OUPath is the slash-separated OU names from the root ("" or "/": the root), e.g.
	// "Workloads/Prod". OUs are created as needed.
	OUPath string
	// Status is "ACTIVE" (default) or "SUSPENDED" (also sets State). AssumeRole into a
	// suspended account is denied.
	Status string
	// JoinedMethod is "CREATED" (default) or "INVITED".
	JoinedMethod string
	// Joined is JoinedTimestamp; default 2020-01-01 plus a few days per account.
	Joined time.Time
	// DenyAssumeRole makes every AssumeRole into the account fail with AccessDenied.
	DenyAssumeRole bool
	// ExternalID, when set, must be the AssumeRole ExternalId (else AccessDenied).
	ExternalID string
	// RoleName, when set, is the only role name AssumeRole accepts (else AccessDenied).
	RoleName string
	// Created is the root user's creation time in the credential report. Default 2015-01-01.
	Created time.Time
	// RootPasswordLastUsed and RootMFA fill the <root_account> row.
	RootPasswordLastUsed time.Time
	RootMFA              bool
}

type account struct {
	id string

	mu     sync.RWMutex // guards everything below
	cfg    AccountConfig
	users  []*user          // sorted by lower-case name, then name
	byName map[string]*user // lower-case name -> user
	byKey  map[string]*user // access key ID -> owner
	report reportState
}

type user struct {
	User                 // Keys and ARN unused; see keys
	keys         [2]*Key // slot index as given (SlotsAsGiven)
	sortKey      string
	arn          string
	loginProfile *Console
}

type reportPhase int

const (
	reportNone reportPhase = iota
	reportInProgress
	reportReady
)

type reportState struct {
	phase     reportPhase
	pending   int
	generated time.Time
	content   []byte
}

func (s *Server) hasAccount(id string) bool {
	s.mu.RLock()
	_, ok := s.accounts[id]
	s.mu.RUnlock()
	return ok
}

func (s *Server) account(id string) *account {
	s.mu.RLock()
	a := s.accounts[id]
	s.mu.RUnlock()
	return a
}

// AddAccount adds (or renames and moves) account id, a 12-digit ID, named name, in the OU at
// ouPath ("" for the root). It panics on an invalid ID.
func (s *Server) AddAccount(id, name, ouPath string) {
	if a := s.account(id); a != nil {
		if err := s.UpdateAccount(id, func(c *AccountConfig) { c.Name, c.OUPath = name, ouPath }); err != nil {
			panic(err)
		}
		return
	}
	s.AddAccountConfig(id, AccountConfig{Name: name, OUPath: ouPath})
}

// AddAccountConfig adds or replaces account id's settings (its users are kept). It panics on
// an invalid ID.
func (s *Server) AddAccountConfig(id string, cfg AccountConfig) {
	if !accountIDPattern.MatchString(id) {
		panic(fmt.Sprintf("fakeaws: account ID %q is not 12 digits", id))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	if a == nil {
		a = &account{id: id, byName: map[string]*user{}, byKey: map[string]*user{}}
		s.accounts[id] = a
		s.order = append(s.order, id)
	}
	cfg = s.normalizeAccount(id, cfg, len(s.order))
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	s.org.place(id, cfg.OUPath)
}

func (s *Server) normalizeAccount(id string, cfg AccountConfig, n int) AccountConfig {
	if cfg.Name == "" {
		cfg.Name = "account-" + id
	}
	if cfg.Email == "" {
		cfg.Email = strings.ToLower(strings.ReplaceAll(cfg.Name, " ", "")) + "@example.com"
	}
	cfg.OUPath = strings.Trim(cfg.OUPath, "/")
	if cfg.Status == "" {
		cfg.Status = "ACTIVE"
	}
	if cfg.JoinedMethod == "" {
		cfg.JoinedMethod = "CREATED"
	}
	if cfg.Joined.IsZero() {
		cfg.Joined = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * 7 * time.Hour)
	}
	if cfg.Created.IsZero() {
		cfg.Created = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return cfg
}

// UpdateAccount changes account id's settings under its lock.
func (s *Server) UpdateAccount(id string, fn func(*AccountConfig)) error {
	a := s.account(id)
	if a == nil {
		return fmt.Errorf("fakeaws: no account %s", id)
	}
	s.mu.RLock()
	n := len(s.order)
	s.mu.RUnlock()
	a.mu.Lock()
	cfg := a.cfg
	fn(&cfg)
	cfg = s.normalizeAccount(id, cfg, n)
	a.cfg = cfg
	a.mu.Unlock()
	s.mu.Lock()
	s.org.place(id, cfg.OUPath)
	s.mu.Unlock()
	return nil
}

// Account returns account id's settings.
func (s *Server) Account(id string) (AccountConfig, bool) {
	a := s.account(id)
	if a == nil {
		return AccountConfig{}, false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg, true
}

// Accounts returns every account ID in the order added.
func (s *Server) Accounts() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.order...)
}

// AddUser adds user u to account acct, replacing a user of the same name (IAM names are
// case-insensitive). It panics if the account does not exist or u is invalid (no name, more
// than 2 keys, a key ID already in the account).
func (s *Server) AddUser(acct string, u User) {
	a := s.account(acct)
	if a == nil {
		panic(fmt.Sprintf("fakeaws: AddUser: no account %s", acct))
	}
	if u.Name == "" {
		panic("fakeaws: AddUser: empty user name")
	}
	if len(u.Keys) > 2 {
		panic(fmt.Sprintf("fakeaws: AddUser %s: %d keys, IAM allows 2", u.Name, len(u.Keys)))
	}
	nu := &user{User: u, sortKey: strings.ToLower(u.Name)}
	nu.Keys, nu.ARN = nil, ""
	if nu.Path == "" {
		nu.Path = "/"
	}
	if !strings.HasPrefix(nu.Path, "/") || !strings.HasSuffix(nu.Path, "/") {
		panic(fmt.Sprintf("fakeaws: AddUser %s: path %q must start and end with /", u.Name, u.Path))
	}
	if nu.ID == "" {
		nu.ID = fakeID("AIDA", acct, u.Name)
	}
	nu.Created = nu.Created.UTC().Truncate(time.Second)
	nu.arn = "arn:aws:iam::" + acct + ":user" + nu.Path + u.Name
	if u.Console != nil {
		c := *u.Console
		c.Created = c.Created.UTC().Truncate(time.Second)
		c.PasswordLastUsed = c.PasswordLastUsed.UTC().Truncate(time.Second)
		nu.loginProfile = &c
	}
	nu.Console = nil
	nu.Tags = append([]Tag(nil), u.Tags...)
	for i, k := range u.Keys {
		k := k
		if k.ID == "" {
			k.ID = fakeID("AKIA", acct, u.Name, fmt.Sprint(i), k.Created.String())
		}
		if k.Status == "" {
			k.Status = "Active"
		}
		k.Created = k.Created.UTC().Truncate(time.Second)
		k.LastUsed = k.LastUsed.UTC().Truncate(time.Second)
		k.Slot = 0
		nu.keys[i] = &k
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.byName[nu.sortKey]; old != nil {
		a.removeUserLocked(old)
	}
	for _, k := range nu.keys {
		if k == nil {
			continue
		}
		if _, dup := a.byKey[k.ID]; dup {
			panic(fmt.Sprintf("fakeaws: AddUser %s: access key %s already exists in %s", u.Name, k.ID, acct))
		}
	}
	for _, k := range nu.keys {
		if k != nil {
			a.byKey[k.ID] = nu
		}
	}
	a.byName[nu.sortKey] = nu
	i := sort.Search(len(a.users), func(i int) bool { return lessUser(nu, a.users[i]) })
	a.users = append(a.users, nil)
	copy(a.users[i+1:], a.users[i:])
	a.users[i] = nu
}

func lessUser(x, y *user) bool {
	if x.sortKey != y.sortKey {
		return x.sortKey < y.sortKey
	}
	return x.Name < y.Name
}

func (a *account) removeUserLocked(u *user) {
	delete(a.byName, u.sortKey)
	for _, k := range u.keys {
		if k != nil {
			delete(a.byKey, k.ID)
		}
	}
	for i, x := range a.users {
		if x == u {
			a.users = append(a.users[:i], a.users[i+1:]...)
			break
		}
	}
}

// RemoveUser deletes a user (and its keys). It reports whether the user existed.
func (s *Server) RemoveUser(acct, name string) bool {
	a := s.account(acct)
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.byName[strings.ToLower(name)]
	if u == nil {
		return false
	}
	a.removeUserLocked(u)
	return true
}

// User returns the current state of a user, keys in slot order with Slot set.
func (s *Server) User(acct, name string) (User, bool) {
	a := s.account(acct)
	if a == nil {
		return User{}, false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byName[strings.ToLower(name)]
	if u == nil {
		return User{}, false
	}
	return s.exportUser(u), true
}

// Users returns every user of an account, sorted by name as IAM lists them.
func (s *Server) Users(acct string) []User {
	a := s.account(acct)
	if a == nil {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]User, len(a.users))
	for i, u := range a.users {
		out[i] = s.exportUser(u)
	}
	return out
}

func (s *Server) exportUser(u *user) User {
	out := u.User
	out.ARN = u.arn
	if u.loginProfile != nil {
		c := *u.loginProfile
		out.Console = &c
	}
	out.Tags = append([]Tag(nil), u.Tags...)
	out.Keys = s.slotted(u)
	return out
}

// Keys returns a user's current access keys in slot order with Slot set (deleted keys are
// gone).
func (s *Server) Keys(acct, userName string) []Key {
	u, ok := s.User(acct, userName)
	if !ok {
		return nil
	}
	return u.Keys
}

// Key returns the current state of access key id in account acct and its owner's name.
func (s *Server) Key(acct, id string) (Key, string, bool) {
	a := s.account(acct)
	if a == nil {
		return Key{}, "", false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byKey[id]
	if u == nil {
		return Key{}, "", false
	}
	for _, k := range s.slotted(u) {
		if k.ID == id {
			return k, u.Name, true
		}
	}
	return Key{}, "", false
}

// slotted returns copies of u's keys with Slot set, per Options.SlotOrder. Callers hold the
// account lock.
func (s *Server) slotted(u *user) []Key {
	var out []Key
	switch s.opts.SlotOrder {
	case SlotsOldestFirst, SlotsNewestFirst:
		for _, k := range u.keys {
			if k != nil {
				out = append(out, *k)
			}
		}
		sort.SliceStable(out, func(i, j int) bool {
			if s.opts.SlotOrder == SlotsOldestFirst {
				return out[i].Created.Before(out[j].Created)
			}
			return out[i].Created.After(out[j].Created)
		})
		for i := range out {
			out[i].Slot = i + 1
		}
	default:
		for i, k := range u.keys {
			if k != nil {
				c := *k
				c.Slot = i + 1
				out = append(out, c)
			}
		}
	}
	return out
}

// SetReport makes account acct's current credential report content (the decoded CSV) with
// the given GeneratedTime, as if generation had completed. Use it to serve a recorded report.
func (s *Server) SetReport(acct string, content []byte, generated time.Time) error {
	a := s.account(acct)
	if a == nil {
		return fmt.Errorf("fakeaws: no account %s", acct)
	}
	a.mu.Lock()
	a.report = reportState{phase: reportReady, generated: generated.UTC().Truncate(time.Second), content: append([]byte(nil), content...)}
	a.mu.Unlock()
	return nil
}

// ResetReport forgets account acct's credential report: the next GetCredentialReport answers
// ReportNotPresent, the next GenerateCredentialReport STARTED.
func (s *Server) ResetReport(acct string) {
	if a := s.account(acct); a != nil {
		a.mu.Lock()
		a.report = reportState{}
		a.mu.Unlock()
	}
}

// fakeID makes a deterministic 20-character AWS-style ID: prefix + 16 base32 characters of a
// hash of parts.
func fakeID(prefix string, parts ...string) string {
	h1 := fnv.New128a()
	for _, p := range parts {
		h1.Write([]byte(p))
		h1.Write([]byte{0})
	}
	sum := h1.Sum(nil)
	enc := base32.StdEncoding.EncodeToString(sum)
	return prefix + enc[:20-len(prefix)]
}
