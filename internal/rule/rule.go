// Package rule is the CIS "no access keys set up at initial user setup for console users" rule as a
// pure function: users in, findings out. No I/O; the caller supplies every fact.
package rule

import (
	"time"

	"github.com/setupkeys/setupkeys"
)

// DefaultWindow is how long after a user's creation a key still counts as created at setup.
const DefaultWindow = 10 * time.Minute

// creationSlack absorbs the credential report's one-second precision: a key made in the same
// second as the user can show a time one second before it.
const creationSlack = time.Second

// UsageTrackingStart is the day IAM began recording when a key was last used. A key created
// before it with no last-used date may still have been used.
var UsageTrackingStart = time.Date(2015, 4, 22, 0, 0, 0, 0, time.UTC)

// Options tune the rule.
type Options struct {
	// Window is how long after the user's creation a key counts as made at setup. Zero means
	// DefaultWindow.
	Window time.Duration
	// UseUnseen says the facts cannot prove a key unused, only show a use: CloudTrail logs show
	// the calls they hold, not every call. A key made at setup with no use seen is then
	// StatusPending instead of fail or review.
	UseUnseen bool
}

func (o Options) window() time.Duration {
	if o.Window <= 0 {
		return DefaultWindow
	}
	return o.Window
}

// Evaluate judges each access key of one user and returns a finding for every key the rule
// applies to: active keys of users who can sign in to the console. Keys the rule does not apply to
// (root, no console password, inactive) produce no finding.
func Evaluate(u setupkeys.User, src setupkeys.Source, opts Options) []setupkeys.Finding {
	var findings []setupkeys.Finding
	for _, v := range Judge(u, opts, nil) {
		findings = append(findings, NewFinding(u, v, src))
	}
	return findings
}

// Verdict is the rule's judgement of one key, before it is dressed as a finding. Sources that only
// count passing keys skip building their findings.
type Verdict struct {
	Key    setupkeys.AccessKey
	Status setupkeys.Status
	// AtSetup is whether the key was created within the setup window.
	AtSetup bool
	Window  time.Duration
}

// Judge appends to dst a verdict for each key of u that the rule applies to, and returns it.
// Pass a reused dst to judge many users without allocating.
func Judge(u setupkeys.User, opts Options, dst []Verdict) []Verdict {
	dst = dst[:0]
	window := opts.window()
	for _, k := range u.Keys {
		if !applies(u, k) {
			continue
		}
		v := Verdict{Key: k, Window: window, AtSetup: CreatedAtSetup(u.Created, k.Created, window)}
		switch {
		case !flags(v.AtSetup, k):
			v.Status = setupkeys.StatusPass
		case opts.UseUnseen:
			v.Status = setupkeys.StatusPending
		case k.Created.Before(UsageTrackingStart):
			v.Status = setupkeys.StatusReview
		default:
			v.Status = setupkeys.StatusFail
		}
		dst = append(dst, v)
	}
	return dst
}

// Flags reports whether Judge would flag key k of u (fail, review or pending) without making a
// verdict: what a source asks to choose the keys worth confirming live, and what the key check
// asks to pair the keys of one second. The verdict itself is Judge's, once per key.
func Flags(u setupkeys.User, k setupkeys.AccessKey, opts Options) bool {
	return applies(u, k) && flags(CreatedAtSetup(u.Created, k.Created, opts.window()), k)
}

// applies reports whether the rule judges key k of u at all: an active key with a creation time,
// of a user other than root who can sign in to the console.
func applies(u setupkeys.User, k setupkeys.AccessKey) bool {
	return !u.IsRoot && u.PasswordEnabled && k.Active && !k.Created.IsZero()
}

// flags reports whether a key the rule applies to is flagged: made at setup and never used.
func flags(atSetup bool, k setupkeys.AccessKey) bool { return atSetup && k.LastUsed.IsZero() }

// CreatedAtSetup reports whether a key made at keyCreated counts as made at the setup of a user
// made at userCreated.
func CreatedAtSetup(userCreated, keyCreated time.Time, window time.Duration) bool {
	return !keyCreated.Before(userCreated.Add(-creationSlack)) && !keyCreated.After(userCreated.Add(window))
}

// Reason explains a verdict in words, with the evidence it rests on.
func (v Verdict) Reason(userCreated time.Time) string {
	gap := relativeGap(v.Key.Created.Sub(userCreated))
	switch {
	case !v.AtSetup:
		return "key created " + gap + ", outside the " + v.Window.String() + " setup window"
	case v.Status == setupkeys.StatusPass:
		return "key created at setup (" + gap + ") but used on " + v.Key.LastUsed.UTC().Format(time.RFC3339)
	case v.Status == setupkeys.StatusPending:
		return "key created at setup (" + gap + ") and no call signed with it in these CloudTrail logs, which cannot prove it unused (data events, other trails or regions, later logs): pending until IAM's last-used date decides (--live)"
	case v.Status == setupkeys.StatusReview:
		return "key created at setup (" + gap + ") with no last-used date, but created before 2015-04-22 when IAM began tracking key use: cannot prove it was never used"
	}
	return "key created at setup (" + gap + ") and never used"
}

// NewFinding dresses a verdict on one of u's keys as a finding with its evidence.
func NewFinding(u setupkeys.User, v Verdict, src setupkeys.Source) setupkeys.Finding {
	k := v.Key
	f := setupkeys.Finding{
		ID:              setupkeys.FindingID(u.AccountID, u.ARN, setupkeys.TwinSlot(u.Keys, k), k.Created),
		AccountID:       u.AccountID,
		User:            u.Name,
		ARN:             u.ARN,
		KeySlot:         k.Slot,
		Status:          v.Status,
		UserCreated:     u.Created.UTC(),
		KeyCreated:      k.Created.UTC(),
		GapSeconds:      int64(k.Created.Sub(u.Created) / time.Second),
		LastUsedService: k.LastUsedService,
		LastUsedRegion:  k.LastUsedRegion,
		Source:          src,
		Reason:          v.Reason(u.Created),
		ReportLine:      u.Line,
	}
	if g := src.GeneratedTime; g != nil && v.AtSetup && k.LastUsed.After(*g) {
		// A live check found the use the report could not show.
		f.Reason += ", after the credential report was made"
	}
	if k.ID != "" {
		id := k.ID
		f.AccessKeyID = &id
	}
	if !k.LastUsed.IsZero() {
		t := k.LastUsed.UTC()
		f.LastUsed = &t
	}
	return f
}

// relativeGap says where the key's creation sits relative to the user's: "4s after the user".
func relativeGap(d time.Duration) string {
	if d < 0 {
		return setupkeys.FormatGap(-d) + " before the user"
	}
	return setupkeys.FormatGap(d) + " after the user"
}
