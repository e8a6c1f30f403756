// Package setupkeys holds the domain types every part of the tool shares: the users and keys a
// source reads, and the findings the rule makes of them. Sources, the rule, renderers and
// remediation all speak these types and nothing else.
package setupkeys

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Status is the verdict on one access key.
type Status string

const (
	// StatusFail: the key was created at setup and never used.
	StatusFail Status = "fail"
	// StatusReview: created at setup, no last-used date, but created before IAM tracked key use,
	// so "never used" cannot be proven.
	StatusReview Status = "review"
	// StatusPass: the key is fine under this rule.
	StatusPass Status = "pass"
	// StatusSuppressed: would be fail or review, but a suppression with a reason covers it.
	StatusSuppressed Status = "suppressed"
	// StatusPending: CloudTrail logs show a key created at setup, for a user with a console
	// password, not deleted or deactivated since, and no call signed with it; the logs cannot
	// tell whether it was used (data events, other regions or trails, logs after the last file
	// may hold its use), so IAM's last-used date (events --live) must decide.
	StatusPending Status = "pending"
)

// SourceKind says where the data behind a finding came from.
type SourceKind string

const (
	SourceReportFile SourceKind = "report-file"
	SourceLiveReport SourceKind = "live-report"
	SourceLiveAPI    SourceKind = "live-api"
	// SourceCloudTrail: CloudTrail events (log files, an S3 prefix, LookupEvents, EventBridge).
	SourceCloudTrail SourceKind = "cloudtrail"
)

// Source describes where a set of findings came from. A live report may be up to four hours old;
// GeneratedTime says how old.
type Source struct {
	Kind          SourceKind `json:"kind"`
	File          string     `json:"file,omitempty"`
	GeneratedTime *time.Time `json:"generated_time,omitempty"`
}

// User is one IAM user as a source sees it, with the keys it holds.
type User struct {
	AccountID string
	Name      string
	ARN       string
	Created   time.Time
	// PasswordEnabled is true when the user can sign in to the console now.
	PasswordEnabled bool
	IsRoot          bool
	Keys            []AccessKey
	// Line is the user's line in a report file (for messages); 0 for live API data.
	Line int
}

// AccessKey is one access key slot of a user. The credential report has slots 1 and 2 and no key
// IDs; the API has IDs and no slots, so API sources number keys in ListAccessKeys order.
type AccessKey struct {
	Slot int
	// ID is empty when the source does not know it (a credential report).
	ID string
	// Active reports whether the key can be used now (report: access_key_N_active; API: Status
	// "Active"; "Inactive" and "Expired" are not active).
	Active bool
	// Status is the API's status string when known ("Active", "Inactive", "Expired").
	Status  string
	Created time.Time
	// LastUsed is zero when the key has no last-used date (N/A).
	LastUsed        time.Time
	LastUsedService string
	LastUsedRegion  string
}

// Finding is the rule's verdict on one access key, with the evidence for it.
type Finding struct {
	ID          string `json:"id"`
	AccountID   string `json:"account_id"`
	AccountName string `json:"account_name,omitempty"`
	User        string `json:"user"`
	ARN         string `json:"arn"`
	KeySlot     int    `json:"key_slot"`
	// AccessKeyID is nil until a live source resolves the key.
	AccessKeyID *string   `json:"access_key_id"`
	Status      Status    `json:"status"`
	UserCreated time.Time `json:"user_created"`
	KeyCreated  time.Time `json:"key_created"`
	// GapSeconds is key_created - user_created.
	GapSeconds      int64      `json:"gap_seconds"`
	LastUsed        *time.Time `json:"last_used"`
	LastUsedService string     `json:"last_used_service,omitempty"`
	LastUsedRegion  string     `json:"last_used_region,omitempty"`
	Source          Source     `json:"source"`
	Reason          string     `json:"reason"`
	// ReportLine is the user's line in the report file, when there is one.
	ReportLine int `json:"report_line,omitempty"`
	// Suppression is set when Status is StatusSuppressed.
	Suppression *SuppressionNote `json:"suppression,omitempty"`
}

// SuppressionNote records which suppression covered a finding and why.
type SuppressionNote struct {
	Reason  string     `json:"reason"`
	Expires *time.Time `json:"expires,omitempty"`
	// Was is the status the finding had before it was suppressed.
	Was Status `json:"was"`
}

// FindingID is a stable ID for a key's finding: the same key in the same account gets the same ID
// from a report file, a live report or the API, so runs can be compared and suppressed by ID. It
// hashes the account, the user's ARN and the key's creation second, not the slot: the report's
// slots and ListAccessKeys' order can differ. twinSlot is 0, except when the user holds another
// key created in the same second: then it is this key's slot, the only thing that tells the two
// apart (see TwinSlot).
func FindingID(accountID, arn string, twinSlot int, keyCreated time.Time) string {
	h := sha256.New()
	for _, part := range []string{accountID, arn, keyCreated.UTC().Truncate(time.Second).Format(time.RFC3339)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	id := "sk-" + hex.EncodeToString(h.Sum(nil))[:16]
	if twinSlot != 0 {
		id += "-" + strconv.Itoa(twinSlot)
	}
	return id
}

// SetAccount moves the finding to accountID and recomputes its ID; a twin key (see FindingID)
// keeps its slot suffix.
func (f *Finding) SetAccount(accountID string) {
	twin := 0
	if strings.LastIndexByte(f.ID, '-') > len("sk") {
		twin = f.KeySlot
	}
	f.AccountID = accountID
	f.ID = FindingID(accountID, f.ARN, twin, f.KeyCreated)
}

// TwinSlot is the twinSlot argument of FindingID for key k of keys: k's slot when another key
// was created in the same second, else 0.
func TwinSlot(keys []AccessKey, k AccessKey) int {
	for _, other := range keys {
		if other.Slot != k.Slot && other.Created.Truncate(time.Second).Equal(k.Created.Truncate(time.Second)) {
			return k.Slot
		}
	}
	return 0
}

// AccountFromARN returns the 12-digit account ID in an IAM ARN, or "" when there is none.
func AccountFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// UserPathFromARN returns the IAM path of a user ARN ("/" when the user has none).
func UserPathFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "/"
	}
	resource := strings.TrimPrefix(parts[5], "user")
	i := strings.LastIndex(resource, "/")
	if i <= 0 {
		return "/"
	}
	return resource[:i+1]
}

// FormatGap prints a duration the way people read a gap between two creation times: "0s", "-1s",
// "3m12s", "41d21h" (days and hours once it passes a day).
func FormatGap(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	if d >= 24*time.Hour {
		return fmt.Sprintf("%s%dd%dh", sign, d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	}
	return sign + d.Truncate(time.Second).String()
}

// ValidAccountID reports whether id is a 12-digit AWS account ID.
func ValidAccountID(id string) bool {
	return len(id) == 12 && allIn(id, "0123456789")
}

// ValidAccessKeyID reports whether id has the shape of an access key ID: 16 to 128 capital
// letters and digits (AKIA..., ASIA...).
func ValidAccessKeyID(id string) bool {
	return len(id) >= 16 && len(id) <= 128 && allIn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}

func allIn(s, chars string) bool {
	for _, r := range s {
		if !strings.ContainsRune(chars, r) {
			return false
		}
	}
	return true
}

// MaskKeyID hides the middle of an access key ID for screens and logs: AKIA…WXYZ.
func MaskKeyID(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// AccountResult is what auditing one account produced. Err is set when the account could not be
// audited (access denied, timeout); its findings are then whatever was found before the error.
type AccountResult struct {
	AccountID   string
	AccountName string
	Source      Source
	// Users is how many user rows or API users were read.
	Users int
	// Passed counts the keys that passed; they are in Findings only when the caller kept them
	// (--all), so memory stays flat in the number of users.
	Passed   int
	Findings []Finding
	// Warnings are facts the reader should know that did not stop the audit (a duplicate row,
	// a key that changed between the report and the live check).
	Warnings []string
	Err      error
}

// Audit is one run over one or more accounts.
type Audit struct {
	StartedAt time.Time
	Window    time.Duration
	// CallerAccount is the account whose credentials ran a live audit ("" for a report file):
	// the account that must apply a plan made from it.
	CallerAccount string
	// Region is the AWS region of the run's configuration, for what is regional (Security Hub's
	// ProductArn and import). A report file run takes --region, else us-east-1.
	Region   string
	Accounts []AccountResult
	// Skipped are the accounts of the organization that the selection left out, with why
	// (suspended, excluded): they were not audited.
	Skipped []SkippedAccount
}

// SkippedAccount is an account that a multi-account run did not audit, and why. Reason is one
// of the Skip* values, or the account's state in lower case for a state Organizations adds.
type SkippedAccount struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

// Why an account was skipped. Only ACTIVE accounts are audited: the others cannot be signed
// in to (SUSPENDED, closed) or are not ready (PENDING_ACTIVATION).
const (
	SkipSuspended         = "suspended"
	SkipPendingClosure    = "pending closure"
	SkipClosed            = "closed"
	SkipPendingActivation = "pending activation"
	SkipExcluded          = "excluded"
)

// Count tallies findings by status over every account.
func (a Audit) Count() map[Status]int {
	counts := map[Status]int{}
	for _, acct := range a.Accounts {
		counts[StatusPass] += acct.Passed
		for _, f := range acct.Findings {
			if f.Status != StatusPass {
				counts[f.Status]++
			}
		}
	}
	return counts
}

// Failed reports whether any account could not be audited.
func (a Audit) Failed() bool { return a.Errored() > 0 }

// Errored counts the accounts that could not be audited.
func (a Audit) Errored() int {
	n := 0
	for _, acct := range a.Accounts {
		if acct.Err != nil {
			n++
		}
	}
	return n
}
