// Package remediate turns findings into a plan, applies it safely and undoes it.
//
// A plan names the exact access keys to act on, the preconditions seen when it was made (status
// Active, the key's creation date, never used) and the setup window it was judged with. Right
// before acting on each key, Apply re-runs the rule on live facts through the key check
// (internal/keycheck), skips what the rule no longer flags, and writes a durable journal (append-only JSON lines, fsync
// after every entry): an intent entry before each call and a done, failed or skipped entry after.
// A re-run with the same journal converges after a crash at any point: no action twice, none
// lost. Rollback re-activates the keys a journal deactivated, and only those.
//
// Deactivation is the default; deletion happens only when asked, and cannot be rolled back.
package remediate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/atomicfile"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/strictjson"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// FormatVersion is the plan format this package writes. It reads it and FormatVersion1.
//
// Format 2 adds "window", the setup window the plan was made with, which apply re-judges each
// key with. A format 1 plan has no window: it was made, and is applied, with rule.DefaultWindow.
const FormatVersion = 2

// FormatVersion1 is the first plan format, still read.
const FormatVersion1 = 1

// Action is what is done to a key.
type Action string

const (
	// ActionDeactivate sets the key Inactive (UpdateAccessKey): the default, undone by Rollback.
	ActionDeactivate Action = "deactivate"
	// ActionDelete deletes the key (DeleteAccessKey): only on request; cannot be undone.
	ActionDelete Action = "delete"
	// ActionReactivate sets a key this tool deactivated Active again (Rollback).
	ActionReactivate Action = "reactivate"
)

// ParseAction reads the --action flag: "deactivate" (also "") or "delete".
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(ActionDeactivate):
		return ActionDeactivate, nil
	case string(ActionDelete):
		return ActionDelete, nil
	}
	return "", fmt.Errorf("unknown action %q: use deactivate or delete", s)
}

// Plan is the remediation plan for one account, or for several (a multi-account audit): what to
// act on and what was seen.
//
// A single-account plan has no Accounts: AccountID is the account every action is in, and the
// credentials that apply it must be that account's. A multi-account plan (NewAccountsPlan) lists
// every account the audit selected in Accounts, audited or not, and each action names its own
// account; AccountID is then the caller's account, the one whose credentials made the plan and
// must apply it (reaching the other accounts through a role). Multi-account plans are an
// addition within format version 1: a setupkeys that predates them refuses them (unknown field
// "accounts") rather than misreading them.
type Plan struct {
	FormatVersion int    `json:"format_version"`
	ID            string `json:"plan_id"`
	AccountID     string `json:"account_id"`
	// Accounts is set only in a multi-account plan.
	Accounts []PlanAccount `json:"accounts,omitempty"`
	// CreatedAt is when the plan was made; Source is the data it was made from (a live report
	// carries its GeneratedTime).
	CreatedAt     time.Time        `json:"created_at"`
	Source        setupkeys.Source `json:"source"`
	IncludeReview bool             `json:"include_review"`
	// Window is the setup window the findings were judged with, as a Go duration ("10m0s");
	// apply re-judges each key with it. Format 2; absent in format 1 (DefaultWindow).
	Window string `json:"window,omitempty"`
	// Resolved is true when every planned key has its access key ID. A plan made from a report
	// file alone is not; Apply refuses it until Resolve has matched its keys live.
	Resolved   bool       `json:"resolved"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// Actions are the keys to act on.
	Actions []PlannedKey `json:"actions"`
	// Listed are findings shown but not planned: review findings without --include-review,
	// suppressed findings.
	Listed []Listed `json:"listed"`

	// Digest is the sha256 of the plan file as read (ReadPlan) or written (Write, Save):
	// what a change board approves and apply --plan-digest requires. Not part of the file.
	Digest string `json:"-"`
}

// SetupWindow is the window apply re-judges the plan's keys with: the plan's own, or
// rule.DefaultWindow for a format 1 plan. Validate has checked that it parses.
func (p *Plan) SetupWindow() time.Duration {
	d, err := time.ParseDuration(p.Window)
	if err != nil || d <= 0 {
		return rule.DefaultWindow
	}
	return d
}

// FileDigest is how a plan file's digest is written: "sha256:" and the hex of its SHA-256.
func FileDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseDigest reads a digest as given on the command line: "sha256:HEX" or the bare 64 hex
// digits, any case. It returns the FileDigest form.
func ParseDigest(s string) (string, error) {
	hexPart := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	if b, err := hex.DecodeString(hexPart); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q is not a plan digest: want sha256: and 64 hex digits, as setupkeys plan prints it", s)
	}
	return "sha256:" + hexPart, nil
}

// AccountStatus says whether a multi-account plan's account was audited.
type AccountStatus string

const (
	// AccountAudited: the account was audited; its findings are planned or listed.
	AccountAudited AccountStatus = "audited"
	// AccountNotAudited: the account could not be audited (Error says why); nothing in it is
	// planned, not even what was found before the error: plan again once it can be reached.
	AccountNotAudited AccountStatus = "not-audited"
)

// SourceOrganization is the source kind of a multi-account plan; each account names its own.
const SourceOrganization setupkeys.SourceKind = "organization"

// PlanAccount is one account of a multi-account plan.
type PlanAccount struct {
	AccountID   string           `json:"account_id"`
	AccountName string           `json:"account_name,omitempty"`
	Status      AccountStatus    `json:"status"`
	Error       string           `json:"error,omitempty"`
	Source      setupkeys.Source `json:"source"`
}

// PlannedKey is one key a plan acts on.
type PlannedKey struct {
	FindingID string `json:"finding_id"`
	AccountID string `json:"account_id"`
	User      string `json:"user"`
	ARN       string `json:"arn"`
	KeySlot   int    `json:"key_slot"`
	// AccessKeyID is nil while unresolved (a plan from a report file).
	AccessKeyID *string `json:"access_key_id"`
	// Status is the finding's status: fail, or review with --include-review.
	Status        setupkeys.Status `json:"status"`
	Preconditions Preconditions    `json:"preconditions"`
}

// KeyID returns the access key ID, "" while unresolved.
func (k PlannedKey) KeyID() string {
	if k.AccessKeyID == nil {
		return ""
	}
	return *k.AccessKeyID
}

// Preconditions are what the plan saw and Apply re-checks right before acting.
type Preconditions struct {
	// Status is always "Active": only active keys are planned.
	Status string `json:"status"`
	// CreateDate is the key's creation time; Apply compares it to the second.
	CreateDate time.Time `json:"create_date"`
	// NeverUsed is always true: a key with a last-used date is not planned, and a key used
	// since the plan is skipped.
	NeverUsed bool `json:"never_used"`
	// UserCreated is the user's creation time the finding showed. Apply never judges with it
	// (GetUser's decides the window) but compares it to the second: a user created at another
	// time is not the one the plan describes, and its key is refused. Absent in plans made
	// before it was recorded: nothing to compare.
	UserCreated time.Time `json:"user_created,omitzero"`
}

// Listed is a finding a plan shows but does not act on.
type Listed struct {
	FindingID   string                     `json:"finding_id"`
	AccountID   string                     `json:"account_id"`
	User        string                     `json:"user"`
	ARN         string                     `json:"arn"`
	KeySlot     int                        `json:"key_slot"`
	AccessKeyID *string                    `json:"access_key_id"`
	Status      setupkeys.Status           `json:"status"`
	Why         string                     `json:"why"`
	Suppression *setupkeys.SuppressionNote `json:"suppression,omitempty"`
}

// keyStatusActive is IAM's status string for a usable key.
const (
	keyStatusActive   = "Active"
	keyStatusInactive = "Inactive"
)

// Errors the CLI maps to exit codes. All are wrapped with details.
var (
	// ErrBadPlan: the plan file is malformed, of another format version, or inconsistent.
	ErrBadPlan = errors.New("bad plan")
	// ErrUnresolved: the plan names keys without access key IDs (made from a report file).
	ErrUnresolved = errors.New("plan has keys without access key IDs")
	// ErrWrongAccount: the plan or journal is for another account than the caller's.
	ErrWrongAccount = errors.New("plan is for another account")
	// ErrNotInteractive: confirmation is needed but no person can answer (use --yes).
	ErrNotInteractive = errors.New("not on a terminal")
	// ErrNotConfirmed: the person did not type the account ID.
	ErrNotConfirmed = errors.New("not confirmed")
	// ErrJournalBusy: another process holds the journal.
	ErrJournalBusy = errors.New("journal is in use by another process")
	// ErrBadJournal: the journal is not a setupkeys journal or is damaged beyond a torn last line.
	ErrBadJournal = errors.New("bad journal")
	// ErrJournalUnusable: the journal file cannot be opened or created (a wrong path, no
	// permission).
	ErrJournalUnusable = errors.New("journal cannot be opened")
)

// NewPlan makes the plan for one account from its findings: every fail finding (and every review
// finding when includeReview) is planned; review findings not planned and suppressed findings are
// listed; passing findings are left out. A finding given twice (same ID) is planned once.
// Findings of another account are an error: make one plan per account, or one over several
// accounts with NewAccountsPlan. window is the setup window the findings were judged with (0:
// rule.DefaultWindow); now stamps the plan.
func NewPlan(findings []setupkeys.Finding, accountID string, src setupkeys.Source, includeReview bool, window time.Duration, now time.Time) (*Plan, error) {
	if !setupkeys.ValidAccountID(accountID) {
		return nil, fmt.Errorf("%w: account ID %q is not 12 digits", ErrBadPlan, accountID)
	}
	p := &Plan{
		FormatVersion: FormatVersion,
		AccountID:     accountID,
		CreatedAt:     now.UTC().Truncate(time.Second),
		Source:        src,
		IncludeReview: includeReview,
		Window:        windowString(window),
		Actions:       []PlannedKey{},
		Listed:        []Listed{},
	}
	seen := map[string]bool{}
	for _, f := range findings {
		if f.AccountID != accountID {
			return nil, fmt.Errorf("%w: finding %s is for account %q, the plan for %s: make one plan per account, or one with NewAccountsPlan", ErrBadPlan, f.ID, f.AccountID, accountID)
		}
		if repeated(seen, f) {
			continue
		}
		if err := p.add(f); err != nil {
			return nil, err
		}
	}
	return p.finish()
}

func windowString(window time.Duration) string {
	if window <= 0 {
		window = rule.DefaultWindow
	}
	return window.String()
}

// finish seals a plan being built: whether every action is resolved, its ID, and a last check.
func (p *Plan) finish() (*Plan, error) {
	p.Resolved = p.allResolved()
	p.ID = p.computeID()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// repeated reports whether a finding with f's ID was seen before, and marks it seen. A finding
// given twice (a repeated report row) is planned or listed once, as first given.
func repeated(seen map[string]bool, f setupkeys.Finding) bool {
	if f.ID == "" {
		return false
	}
	if seen[f.ID] {
		return true
	}
	seen[f.ID] = true
	return false
}

// add plans or lists one finding of the plan's account.
func (p *Plan) add(f setupkeys.Finding) error {
	switch {
	case f.Status == setupkeys.StatusFail, f.Status == setupkeys.StatusReview && p.IncludeReview:
		if f.LastUsed != nil {
			return fmt.Errorf("%w: finding %s is %s but has a last-used date", ErrBadPlan, f.ID, f.Status)
		}
		p.Actions = append(p.Actions, PlannedKey{
			FindingID:   f.ID,
			AccountID:   f.AccountID,
			User:        f.User,
			ARN:         f.ARN,
			KeySlot:     f.KeySlot,
			AccessKeyID: copyString(f.AccessKeyID),
			Status:      f.Status,
			Preconditions: Preconditions{
				Status:      keyStatusActive,
				CreateDate:  f.KeyCreated.UTC(),
				NeverUsed:   true,
				UserCreated: f.UserCreated.UTC(),
			},
		})
	case f.Status == setupkeys.StatusReview:
		p.Listed = append(p.Listed, listed(f, "review: no last-used date but created before IAM tracked key use; not planned without --include-review"))
	case f.Status == setupkeys.StatusSuppressed:
		why := "suppressed"
		if f.Suppression != nil {
			why = "suppressed: " + f.Suppression.Reason
		}
		p.Listed = append(p.Listed, listed(f, why))
	}
	return nil
}

// NewAccountsPlan makes one plan over the accounts of a multi-account audit. callerAccount is
// the account of the credentials that ran the audit (sts:GetCallerIdentity): it becomes the
// plan's AccountID, and only credentials of that account may apply the plan, reaching each
// action's account through a role. Every result is listed in Accounts; an account whose audit
// failed (Err set) is AccountNotAudited and nothing in it is planned. The findings of each
// audited account are planned and listed as NewPlan does. The plan's Source is
// SourceOrganization.
func NewAccountsPlan(results []setupkeys.AccountResult, callerAccount string, includeReview bool, window time.Duration, now time.Time) (*Plan, error) {
	if !setupkeys.ValidAccountID(callerAccount) {
		return nil, fmt.Errorf("%w: caller account ID %q is not 12 digits", ErrBadPlan, callerAccount)
	}
	p := &Plan{
		FormatVersion: FormatVersion,
		AccountID:     callerAccount,
		Accounts:      []PlanAccount{},
		CreatedAt:     now.UTC().Truncate(time.Second),
		Source:        setupkeys.Source{Kind: SourceOrganization},
		IncludeReview: includeReview,
		Window:        windowString(window),
		Actions:       []PlannedKey{},
		Listed:        []Listed{},
	}
	seen := map[string]bool{}
	for _, r := range results {
		a := PlanAccount{AccountID: r.AccountID, AccountName: r.AccountName, Status: AccountAudited, Source: r.Source}
		if r.Err != nil {
			a.Status, a.Error = AccountNotAudited, r.Err.Error()
		}
		p.Accounts = append(p.Accounts, a)
		if r.Err != nil {
			continue
		}
		for _, f := range r.Findings {
			if f.AccountID != r.AccountID {
				return nil, fmt.Errorf("%w: finding %s is for account %q but came from the audit of %s", ErrBadPlan, f.ID, f.AccountID, r.AccountID)
			}
			if repeated(seen, f) {
				continue
			}
			if err := p.add(f); err != nil {
				return nil, err
			}
		}
	}
	return p.finish()
}

// MultiAccount reports whether the plan was made over several accounts (NewAccountsPlan).
func (p *Plan) MultiAccount() bool { return len(p.Accounts) > 0 }

// ActionAccounts returns the accounts the plan acts in, sorted, each once.
func (p *Plan) ActionAccounts() []string {
	set := map[string]bool{}
	for _, a := range p.Actions {
		set[a.AccountID] = true
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// NotAudited returns the accounts of a multi-account plan that could not be audited.
func (p *Plan) NotAudited() []PlanAccount {
	var out []PlanAccount
	for _, a := range p.Accounts {
		if a.Status != AccountAudited {
			out = append(out, a)
		}
	}
	return out
}

func listed(f setupkeys.Finding, why string) Listed {
	return Listed{
		FindingID:   f.ID,
		AccountID:   f.AccountID,
		User:        f.User,
		ARN:         f.ARN,
		KeySlot:     f.KeySlot,
		AccessKeyID: copyString(f.AccessKeyID),
		Status:      f.Status,
		Why:         why,
		Suppression: f.Suppression,
	}
}

func copyString(s *string) *string {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func (p *Plan) allResolved() bool {
	for _, a := range p.Actions {
		if a.KeyID() == "" {
			return false
		}
	}
	return true
}

// computeID derives the plan ID from what the plan is: account, time and planned findings.
func (p *Plan) computeID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00", p.FormatVersion, p.AccountID, p.CreatedAt.UTC().Format(time.RFC3339Nano))
	for _, a := range p.Actions {
		fmt.Fprintf(h, "%s\x00%s\x00", a.FindingID, a.KeyID())
	}
	return "plan-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Unresolved returns the planned keys that have no access key ID yet.
func (p *Plan) Unresolved() []PlannedKey {
	var out []PlannedKey
	for _, a := range p.Actions {
		if a.KeyID() == "" {
			out = append(out, a)
		}
	}
	return out
}

// Validate checks that the plan is one this package can act on safely.
func (p *Plan) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadPlan, fmt.Sprintf(format, args...))
	}
	switch {
	case p.FormatVersion > FormatVersion:
		return bad("format_version %d is newer than this setupkeys reads (%d); upgrade setupkeys", p.FormatVersion, FormatVersion)
	case p.FormatVersion == FormatVersion1:
		if p.Window != "" {
			return bad("window is a format_version %d field; this plan says format_version %d", FormatVersion, p.FormatVersion)
		}
	case p.FormatVersion == FormatVersion:
		if d, err := time.ParseDuration(p.Window); err != nil || d <= 0 {
			return bad("window %q is not a positive Go duration such as 10m0s", p.Window)
		}
	default:
		return bad("format_version %d is not supported (this setupkeys reads %d and %d)", p.FormatVersion, FormatVersion1, FormatVersion)
	}
	if !strings.HasPrefix(p.ID, "plan-") {
		return bad("plan_id %q is missing or malformed", p.ID)
	}
	if !setupkeys.ValidAccountID(p.AccountID) {
		return bad("account_id %q is not 12 digits", p.AccountID)
	}
	audited := map[string]bool{}
	for i, a := range p.Accounts {
		if !setupkeys.ValidAccountID(a.AccountID) {
			return bad("accounts[%d]: account_id %q is not 12 digits", i, a.AccountID)
		}
		if _, dup := audited[a.AccountID]; dup {
			return bad("accounts[%d]: account %s is listed twice", i, a.AccountID)
		}
		switch a.Status {
		case AccountAudited:
		case AccountNotAudited:
		default:
			return bad("accounts[%d]: status %q: want %s or %s", i, a.Status, AccountAudited, AccountNotAudited)
		}
		audited[a.AccountID] = a.Status == AccountAudited
	}
	if p.CreatedAt.IsZero() {
		return bad("created_at is missing")
	}
	if p.Resolved != p.allResolved() {
		return bad("resolved is %v but %d of %d keys have no access key ID", p.Resolved, len(p.Unresolved()), len(p.Actions))
	}
	seen := map[string]int{}
	findings := map[string]int{}
	for i, a := range p.Actions {
		where := fmt.Sprintf("actions[%d] (user %q)", i, a.User)
		if p.MultiAccount() {
			ok, listed := audited[a.AccountID]
			if !listed {
				return bad("%s: account_id %q is not one of the plan's accounts", where, a.AccountID)
			}
			if !ok {
				return bad("%s: account %s was not audited; nothing in it can be planned", where, a.AccountID)
			}
		} else if a.AccountID != p.AccountID {
			return bad("%s: account_id %q differs from the plan's %s", where, a.AccountID, p.AccountID)
		}
		if a.User == "" {
			return bad("actions[%d]: user is missing", i)
		}
		if _, what := termsafe.Check(a.User); what != "" {
			return &NameError{Name: a.User, Err: bad("actions[%d]: user %s has %s: IAM user names are printable text", i, termsafe.Quote(a.User), what)}
		}
		if a.FindingID != "" {
			if j, dup := findings[a.FindingID]; dup {
				return bad("%s: finding %q is planned twice (also actions[%d])", where, a.FindingID, j)
			}
			findings[a.FindingID] = i
		}
		if a.Status != setupkeys.StatusFail && a.Status != setupkeys.StatusReview {
			return bad("%s: status %q cannot be planned", where, a.Status)
		}
		if a.Status == setupkeys.StatusReview && !p.IncludeReview {
			return bad("%s: a review finding is planned but include_review is false", where)
		}
		if a.Preconditions.Status != keyStatusActive || !a.Preconditions.NeverUsed || a.Preconditions.CreateDate.IsZero() {
			return bad("%s: preconditions must be status Active, never_used true and a create_date", where)
		}
		if id := a.KeyID(); id != "" {
			if !setupkeys.ValidAccessKeyID(id) {
				return bad("%s: access_key_id %q is not an access key ID", where, setupkeys.MaskKeyID(id))
			}
			if j, dup := seen[id]; dup {
				return bad("%s: access key %s is planned twice (also actions[%d])", where, setupkeys.MaskKeyID(id), j)
			}
			seen[id] = i
		}
	}
	return nil
}

// Write writes the plan as indented JSON and sets its Digest to the digest of what it wrote.
func (p *Plan) Write(w io.Writer) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err = w.Write(b); err != nil {
		return err
	}
	p.Digest = FileDigest(b)
	return nil
}

// Save writes the plan to path atomically (atomicfile: a temporary file, fsync, rename), mode
// 0600 for a new file; it refuses to replace anything but a regular file (a link, a directory).
func (p *Plan) Save(path string) error {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o600)
}

// NameError is a Validate error about a name that is not printable text.
type NameError struct {
	Name string
	Err  error
}

func (e *NameError) Error() string { return e.Err.Error() }
func (e *NameError) Unwrap() error { return e.Err }

// MaxPlanSize is the largest plan file read. A plan is about 600 bytes a key: 64 MiB holds
// 100,000 keys, ten accounts of 5,000 users with two keys each; a larger file is not a plan.
const MaxPlanSize = 64 << 20

// ReadPlan reads and validates a plan; name names it in messages. It is read strictly
// (strictjson): a plan is acted on, so a misspelt, case-variant or repeated field must not be
// silently ignored or hide another, and a plan over MaxPlanSize is refused unread.
func ReadPlan(r io.Reader, name string) (*Plan, error) {
	var p Plan
	data, err := strictjson.ReadAll(r, name, MaxPlanSize)
	if err == nil {
		err = strictjson.Unmarshal(name, data, &p)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPlan, err)
	}
	if err := p.Validate(); err != nil {
		var ne *NameError
		if errors.As(err, &ne) {
			// Say where the name is, as it was written.
			if q, qerr := json.Marshal(ne.Name); qerr == nil {
				if at := bytes.Index(data, q); at >= 0 {
					line, col := strictjson.Position(data, int64(at), 1)
					return nil, fmt.Errorf("%s: %w", termsafe.Place(name, line, col), err)
				}
			}
		}
		return nil, fmt.Errorf("%s: %w", termsafe.String(name), err)
	}
	p.Digest = FileDigest(data)
	return &p, nil
}

// LoadPlan reads the plan file at path.
func LoadPlan(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPlan(f, path)
}
