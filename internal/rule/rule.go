// Package rule is the CIS "no access keys set up at initial user setup for console users" rule as a
// pure function: users in, findings out. No I/O; the caller supplies every fact.
package rule

import (
	"fmt"
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
	if u.IsRoot || !u.PasswordEnabled {
		return nil
	}
	var findings []setupkeys.Finding
	for _, k := range u.Keys {
		if !k.Active || k.Created.IsZero() {
			continue
		}
		status, reason := judge(u.Created, k, opts.window())
		findings = append(findings, newFinding(u, k, src, status, reason))
	}
	return findings
}

// CreatedAtSetup reports whether a key made at keyCreated counts as made at the setup of a user
// made at userCreated.
func CreatedAtSetup(userCreated, keyCreated time.Time, window time.Duration) bool {
	return !keyCreated.Before(userCreated.Add(-creationSlack)) && !keyCreated.After(userCreated.Add(window))
}

func judge(userCreated time.Time, k setupkeys.AccessKey, window time.Duration) (setupkeys.Status, string) {
	gap := k.Created.Sub(userCreated)
	if !CreatedAtSetup(userCreated, k.Created, window) {
		return setupkeys.StatusPass, fmt.Sprintf("key created %s, outside the %s setup window", relativeGap(gap), window)
	}
	if !k.LastUsed.IsZero() {
		return setupkeys.StatusPass, fmt.Sprintf("key created at setup (%s) but used on %s", relativeGap(gap), k.LastUsed.UTC().Format(time.RFC3339))
	}
	if k.Created.Before(UsageTrackingStart) {
		return setupkeys.StatusReview, fmt.Sprintf("key created at setup (%s) with no last-used date, but created before 2015-04-22 when IAM began tracking key use: cannot prove it was never used", relativeGap(gap))
	}
	return setupkeys.StatusFail, fmt.Sprintf("key created at setup (%s) and never used", relativeGap(gap))
}

func newFinding(u setupkeys.User, k setupkeys.AccessKey, src setupkeys.Source, status setupkeys.Status, reason string) setupkeys.Finding {
	f := setupkeys.Finding{
		ID:              setupkeys.FindingID(u.AccountID, u.ARN, k.Slot, k.Created),
		AccountID:       u.AccountID,
		User:            u.Name,
		ARN:             u.ARN,
		KeySlot:         k.Slot,
		Status:          status,
		UserCreated:     u.Created.UTC(),
		KeyCreated:      k.Created.UTC(),
		GapSeconds:      int64(k.Created.Sub(u.Created) / time.Second),
		LastUsedService: k.LastUsedService,
		LastUsedRegion:  k.LastUsedRegion,
		Source:          src,
		Reason:          reason,
		ReportLine:      u.Line,
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
