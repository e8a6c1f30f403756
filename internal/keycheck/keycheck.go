// Package keycheck is the one place that answers "which live access key is this, and does the
// rule flag it now?". A caller names a user and the keys it expects (a credential report's flagged
// slots, a plan's entries); the check reads the live facts from IAM (ListAccessKeys,
// GetLoginProfile, GetUser, GetAccessKeyLastUsed) and judges each key with the rule on them.
//
// The pairing is a pure function (Decide) of the request and the facts; Check only gathers the
// facts, asking Needs what to read next so no call is made that cannot change the answer.
//
// # Policy
//
//   - A key named by ID (a plan entry) must be one of the user's keys and made in the second the
//     caller saw; a key of another user, a key made at another time or a missing key is not it.
//   - A key known only by its creation second (a credential report has no key IDs) is paired
//     with the user's live keys made in that second. When several are (twins made in one
//     second), each is judged and they are paired in this order: flagged by the rule now, then
//     passing now (used since), then inactive, then deleted while checked; ties by key ID. So
//     the keys the rule flags are the ones the caller gets, and no key twice. A live key of that
//     second flagged now but left over (the caller expected fewer, e.g. a key re-activated since)
//     is returned in Result.Unasked, never silently paired.
//   - A key deactivated or deleted since is not flagged (Cause says which); a key used since
//     passes (the rule's reason says when). A key the caller itself deactivated
//     (Want.DeactivatedByCaller) is judged as it was before: the journal says why it is Inactive.
//   - A user deleted since: every key is CauseUserGone. A user without a console password now:
//     every active key is CauseNoPassword (the rule skips the user).
//   - The user's creation time comes from the caller when it has one it trusts (a credential
//     report); otherwise (a plan entry) from GetUser, so no file decides the setup window.
package keycheck

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// API is the part of IAM the check reads. *iam.Client satisfies it.
type API interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, optFns ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error)
	GetUser(ctx context.Context, in *iam.GetUserInput, optFns ...func(*iam.Options)) (*iam.GetUserOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, optFns ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

var _ API = (*iam.Client)(nil)

// DefaultTimeout bounds the check of one user, every call and the SDK's retries included.
const DefaultTimeout = 2 * time.Minute

// Request is one user and the keys a caller asks about.
type Request struct {
	AccountID string
	User      string
	ARN       string
	// UserCreated is the user's creation time when the caller has one it trusts (a credential
	// report); zero means ask IAM (GetUser).
	UserCreated time.Time
	// ExpectedUserCreated is the user's creation time a plan recorded: never used in place of
	// GetUser's (no file decides the setup window), but compared with it to the second; a user
	// created at another time is not the one the plan describes (CauseUserCreatedDiffers).
	// Zero: nothing to compare.
	ExpectedUserCreated time.Time
	// Line is the user's report line, carried into Result.User for findings.
	Line int
	Keys []Want
	// AllKeys asks about every key the user has (an API-only audit): Check makes a Want by ID of
	// each key ListAccessKeys returns, slots in its order, and Keys is ignored.
	AllKeys bool
	// EveryLastUse reads the last use of every active key asked about, also where it cannot
	// change the verdict (outside the window): findings that show it (--all).
	EveryLastUse bool
}

// Want is one key the caller expects.
type Want struct {
	// Slot is the report's slot or the plan's key_slot; it stays the key's slot in the result.
	Slot int
	// ID names the key exactly (a plan entry); "" pairs by Created's second (a report row).
	ID string
	// Created is the key's creation time as the caller saw it, compared to the second.
	Created time.Time
	// DeactivatedByCaller: the caller's own journal deactivated this key, so Inactive is its
	// doing; the key is judged as if still Active (deleting what apply deactivated).
	DeactivatedByCaller bool
}

// Facts are what IAM said about the user. Check fills them; tests build them.
type Facts struct {
	// UserGone: ListAccessKeys or GetUser answered NoSuchEntity.
	UserGone bool
	// Keys are the user's keys (ListAccessKeys), with last use once read.
	Keys []LiveKey
	// PasswordKnown is set once GetLoginProfile answered; Password is whether there is one.
	PasswordKnown bool
	Password      bool
	// UserCreated is GetUser's CreateDate; zero until asked.
	UserCreated time.Time
	// Owners maps a wanted key ID that is not among the user's keys to the user
	// GetAccessKeyLastUsed names for it ("" when no such key exists).
	Owners map[string]string
}

// LiveKey is one of the user's keys as IAM shows it now. Times are to the second, as the
// credential report has them.
type LiveKey struct {
	setupkeys.AccessKey
	// LastUsedKnown is set once GetAccessKeyLastUsed answered.
	LastUsedKnown bool
	// Gone: deleted between ListAccessKeys and GetAccessKeyLastUsed.
	Gone bool
}

// Cause says why a wanted key was not judged by the rule.
type Cause string

const (
	CauseUserGone       Cause = "user-gone"
	CauseKeyGone        Cause = "key-gone"
	CauseOtherUser      Cause = "other-user"
	CauseCreatedDiffers Cause = "created-differs"
	CauseInactive       Cause = "inactive"
	CauseNoPassword     Cause = "no-password"
	// CauseUserCreatedDiffers: the user was created at another time than Request.ExpectedUserCreated.
	CauseUserCreatedDiffers Cause = "user-created-differs"
	// CauseUnchecked: a fact the rule needs was not read (only when Decide is handed partial
	// facts; Check never does that).
	CauseUnchecked Cause = "unchecked"
)

// Decision is the answer for one wanted key.
type Decision struct {
	Want Want
	// Key is the live key paired with the want (Slot set to Want.Slot); Key.ID is "" when no
	// live key is it.
	Key setupkeys.AccessKey
	// Judged: the rule applies to the key now and Verdict is its judgement on live facts.
	Judged  bool
	Verdict rule.Verdict
	// Cause says why the key was not judged ("" when Judged).
	Cause Cause
	// Reason says in words why the key is or is not flagged.
	Reason string
}

// Flagged reports whether the rule flags the key now (fail or review).
func (d Decision) Flagged() bool {
	return d.Judged && d.Verdict.Status != setupkeys.StatusPass
}

// Result is the answer for one user.
type Result struct {
	// UserGone: the user no longer exists (every decision is CauseUserGone).
	UserGone bool
	// User is the user as judged: account, name, ARN, creation (the caller's or GetUser's),
	// console password now, the judged keys. rule.NewFinding takes it with a Decision's Verdict.
	User setupkeys.User
	// Keys are parallel to Request.Keys.
	Keys []Decision
	// Unasked are live keys made in a second the caller asked about, flagged by the rule now,
	// but left over after pairing (more such keys than the caller expected).
	Unasked []Decision
}

// Options tune the check.
type Options struct {
	Rule rule.Options
	// Timeout bounds the check of one user; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Need is what Check must still read before Decide can answer.
type Need struct {
	// Owners are wanted key IDs missing from the user's keys: GetAccessKeyLastUsed says whose.
	Owners   []string
	Password bool
	User     bool
	// LastUsed are key IDs whose last use can change the verdict.
	LastUsed []string
}

// None reports whether nothing more needs reading.
func (n Need) None() bool {
	return len(n.Owners) == 0 && !n.Password && !n.User && len(n.LastUsed) == 0
}

// Needs says what to read next, given the facts so far (ListAccessKeys already read). It asks
// only for what can change a decision: no password check when no wanted key is active, no GetUser
// without a password, no last use for a key outside the setup window.
func Needs(req Request, f Facts, opts rule.Options) Need {
	var n Need
	if f.UserGone {
		return n
	}
	for _, w := range req.Keys {
		if w.ID == "" || slices.ContainsFunc(f.Keys, func(k LiveKey) bool { return k.ID == w.ID }) {
			continue
		}
		if _, asked := f.Owners[w.ID]; !asked {
			n.Owners = append(n.Owners, w.ID)
		}
	}
	cands := candidates(req, f)
	if !slices.ContainsFunc(cands, func(c candidate) bool { return c.active() }) {
		return n
	}
	if !f.PasswordKnown {
		n.Password = true
		return n
	}
	if !f.Password {
		return n
	}
	created := userCreated(req, f)
	if created.IsZero() {
		n.User = true
		return n
	}
	window := opts.Window
	if window <= 0 {
		window = rule.DefaultWindow
	}
	for _, c := range cands {
		k := f.Keys[c.key]
		if c.active() && !k.LastUsedKnown && !k.Gone && (req.EveryLastUse || rule.CreatedAtSetup(created, k.Created, window)) {
			n.LastUsed = append(n.LastUsed, k.ID)
		}
	}
	return n
}

// candidate is a live key that may answer a want.
type candidate struct {
	key   int // into Facts.Keys
	want  int // into Request.Keys when named by ID, else -1
	keys  []LiveKey
	wants []Want
}

func (c candidate) active() bool {
	k := c.keys[c.key]
	if k.Active {
		return true
	}
	return c.want >= 0 && c.wants[c.want].DeactivatedByCaller && k.Status == string(types.StatusTypeInactive)
}

// candidates returns the live keys that may answer the request: each key named by ID (made in the
// second seen) and every key made in an asked second that no want names.
func candidates(req Request, f Facts) []candidate {
	named := map[string]bool{}
	for _, w := range req.Keys {
		if w.ID != "" {
			named[w.ID] = true
		}
	}
	var out []candidate
	for i, k := range f.Keys {
		if named[k.ID] {
			for j, w := range req.Keys {
				if w.ID == k.ID && sameSecond(w.Created, k.Created) {
					out = append(out, candidate{key: i, want: j, keys: f.Keys, wants: req.Keys})
				}
			}
			continue
		}
		if slices.ContainsFunc(req.Keys, func(w Want) bool { return w.ID == "" && sameSecond(w.Created, k.Created) }) {
			out = append(out, candidate{key: i, want: -1, keys: f.Keys, wants: req.Keys})
		}
	}
	return out
}

func sameSecond(a, b time.Time) bool {
	return a.UTC().Truncate(time.Second).Equal(b.UTC().Truncate(time.Second))
}

func userCreated(req Request, f Facts) time.Time {
	if !req.UserCreated.IsZero() {
		return req.UserCreated
	}
	return f.UserCreated
}

// Decide pairs each wanted key with a live key (Pair) and judges it with the rule on the live
// facts, under the package's policy. It is pure.
func Decide(req Request, f Facts, opts rule.Options) Result {
	res := Pair(req, f, opts)
	res.User.Keys = nil
	for i := range res.Keys {
		res.Keys[i] = judge(res.User, res.Keys[i], opts)
		if d := res.Keys[i]; d.Judged {
			res.User.Keys = append(res.User.Keys, d.Verdict.Key)
		}
	}
	for i := range res.Unasked {
		res.Unasked[i] = judge(res.User, res.Unasked[i], opts)
	}
	return res
}

// Pair pairs each wanted key with a live key under the package's policy, without judging it: each
// decision has a Cause (the rule cannot apply to the key now), or is Ready with the live key the
// rule applies to. Result.User holds the ready keys. Decide judges what Pair paired; a live audit
// hands the paired keys on, and the audit pipeline runs the rule once per key. It is pure.
func Pair(req Request, f Facts, opts rule.Options) Result {
	res := Result{
		User: setupkeys.User{
			AccountID:       req.AccountID,
			Name:            req.User,
			ARN:             req.ARN,
			Created:         userCreated(req, f),
			PasswordEnabled: f.PasswordKnown && f.Password,
			Line:            req.Line,
		},
		Keys:     make([]Decision, len(req.Keys)),
		UserGone: f.UserGone,
	}
	for i, w := range req.Keys {
		res.Keys[i] = Decision{Want: w}
	}
	if f.UserGone {
		for i := range res.Keys {
			res.Keys[i].Cause, res.Keys[i].Reason = CauseUserGone, "the user no longer exists"
		}
		return res
	}
	named := map[string]bool{}
	for i, w := range req.Keys {
		if w.ID == "" {
			continue
		}
		named[w.ID] = true
		d := &res.Keys[i]
		at := slices.IndexFunc(f.Keys, func(k LiveKey) bool { return k.ID == w.ID })
		switch {
		case at < 0:
			if owner := f.Owners[w.ID]; owner != "" && owner != req.User {
				d.Cause, d.Reason = CauseOtherUser, fmt.Sprintf("the key belongs to user %s, not %s", owner, req.User)
			} else {
				d.Cause, d.Reason = CauseKeyGone, "the key no longer exists"
			}
		case !sameSecond(f.Keys[at].Created, w.Created):
			d.Key = f.Keys[at].AccessKey
			d.Key.Slot = w.Slot
			d.Cause, d.Reason = CauseCreatedDiffers, fmt.Sprintf("the key's create date %s differs from the expected %s",
				f.Keys[at].Created.UTC().Format(time.RFC3339), w.Created.UTC().Format(time.RFC3339))
		default:
			*d = ready(req, f, w, f.Keys[at], opts)
		}
	}
	// Keys known by their creation second: pair each second's wants, by slot, with that second's
	// live keys, best explained first: what the rule flags now, then what it passes.
	user := res.User
	user.PasswordEnabled = true // ready keys are a console user's
	rank := func(d Decision) int {
		switch {
		case d.Ready() && rule.Flags(user, d.Key, opts):
			return 0
		case d.Ready():
			return 1
		case d.Cause == CauseKeyGone:
			return 3
		}
		return 2
	}
	var seconds []time.Time
	bySecond := map[time.Time][]int{}
	for i, w := range req.Keys {
		if w.ID != "" {
			continue
		}
		s := w.Created.UTC().Truncate(time.Second)
		if _, ok := bySecond[s]; !ok {
			seconds = append(seconds, s)
		}
		bySecond[s] = append(bySecond[s], i)
	}
	for _, s := range seconds {
		wants := bySecond[s]
		slices.SortStableFunc(wants, func(a, b int) int { return cmp.Compare(req.Keys[a].Slot, req.Keys[b].Slot) })
		var cands []Decision
		for _, k := range f.Keys {
			if !named[k.ID] && sameSecond(k.Created, s) {
				cands = append(cands, ready(req, f, req.Keys[wants[0]], k, opts))
			}
		}
		slices.SortStableFunc(cands, func(a, b Decision) int {
			return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Key.ID, b.Key.ID))
		})
		for j, wi := range wants {
			w := req.Keys[wi]
			if j >= len(cands) {
				res.Keys[wi] = Decision{Want: w, Cause: CauseKeyGone, Reason: "no key of the user created in that second exists now"}
				continue
			}
			d := cands[j]
			d.Want = w
			d.Key.Slot = w.Slot
			res.Keys[wi] = d
		}
		for _, d := range cands[min(len(wants), len(cands)):] {
			if rank(d) == 0 {
				d.Want = Want{Created: s}
				res.Unasked = append(res.Unasked, d)
			}
		}
	}
	for _, d := range res.Keys {
		if d.Ready() {
			res.User.Keys = append(res.User.Keys, d.Key)
		}
	}
	return res
}

// Ready reports whether the key was paired and the rule applies to it on the live facts (before
// Decide judged it, or after).
func (d Decision) Ready() bool { return d.Cause == "" && d.Key.ID != "" }

// ready pairs one live key with w on the user's live facts: a Cause when the rule cannot apply to
// it now, else the key as the rule sees it (a key the caller deactivated counts as Active).
func ready(req Request, f Facts, w Want, lk LiveKey, opts rule.Options) Decision {
	k := lk.AccessKey
	k.Slot = w.Slot
	d := Decision{Want: w, Key: k}
	active := k.Active || (w.ID != "" && w.DeactivatedByCaller && k.Status == string(types.StatusTypeInactive))
	created := userCreated(req, f)
	window := opts.Window
	if window <= 0 {
		window = rule.DefaultWindow
	}
	switch {
	case lk.Gone:
		d.Cause, d.Reason = CauseKeyGone, "the key was deleted while it was checked"
	case !active:
		d.Cause, d.Reason = CauseInactive, fmt.Sprintf("the key is %s now", k.Status)
	case !f.PasswordKnown:
		d.Cause, d.Reason = CauseUnchecked, "the console password was not checked"
	case !f.Password:
		d.Cause, d.Reason = CauseNoPassword, "the user has no console password now, so the rule does not apply"
	case created.IsZero():
		d.Cause, d.Reason = CauseUnchecked, "the user's creation time was not read"
	case !req.ExpectedUserCreated.IsZero() && !sameSecond(created, req.ExpectedUserCreated):
		d.Cause, d.Reason = CauseUserCreatedDiffers, fmt.Sprintf("the user was created at %s, not at the expected %s",
			created.UTC().Format(time.RFC3339), req.ExpectedUserCreated.UTC().Format(time.RFC3339))
	case k.Created.IsZero():
		d.Cause, d.Reason = CauseUnchecked, "the key has no creation time"
	case rule.CreatedAtSetup(created, k.Created, window) && !lk.LastUsedKnown:
		d.Cause, d.Reason = CauseUnchecked, "the key's last use was not read"
	default:
		d.Key.Active = true
	}
	return d
}

// judge applies the rule to a key Pair made ready, on the user's live facts.
func judge(u setupkeys.User, d Decision, opts rule.Options) Decision {
	if !d.Ready() {
		return d
	}
	u.PasswordEnabled, u.Keys = true, []setupkeys.AccessKey{d.Key}
	v := rule.Judge(u, opts, nil)
	d.Judged, d.Verdict, d.Reason = true, v[0], v[0].Reason(u.Created)
	return d
}

// Check reads what the rule needs about req's user and keys from IAM (Gather) and decides each
// key (Decide).
func Check(ctx context.Context, api API, req Request, opts Options) (Result, error) {
	req, f, err := Gather(ctx, api, req, opts)
	if err != nil {
		return Result{}, err
	}
	return Decide(req, f, opts.Rule), nil
}

// Gather reads from IAM the facts Pair and Decide need about req's user and keys, asking Needs
// what to read next, and returns them with the request (its Keys made from the live keys when
// AllKeys). Only AWS errors other than NoSuchEntity are errors: a user or key that is gone is a
// fact. The whole gathering is bounded by opts.Timeout; throttling is the SDK retryer's.
func Gather(ctx context.Context, api API, req Request, opts Options) (Request, Facts, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var f Facts
	metas, err := iamx.ListAccessKeys(ctx, api, req.User, nil)
	switch {
	case iamx.IsNoSuchEntity(err):
		f.UserGone = true
	case err != nil:
		return req, f, fmt.Errorf("user %s: %w", req.User, iamx.CallError("ListAccessKeys", "", err))
	}
	for _, m := range metas {
		f.Keys = append(f.Keys, LiveKey{AccessKey: setupkeys.AccessKey{
			ID:      aws.ToString(m.AccessKeyId),
			Status:  string(m.Status),
			Active:  m.Status == types.StatusTypeActive,
			Created: aws.ToTime(m.CreateDate).UTC().Truncate(time.Second),
		}})
	}
	if req.AllKeys {
		req.Keys = make([]Want, len(f.Keys))
		for i, k := range f.Keys {
			req.Keys[i] = Want{Slot: i + 1, ID: k.ID, Created: k.Created}
		}
	}
	for {
		n := Needs(req, f, opts.Rule)
		switch {
		case n.None():
			return req, f, nil
		case len(n.Owners) > 0:
			if f.Owners == nil {
				f.Owners = map[string]string{}
			}
			for _, id := range n.Owners {
				out, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
				switch {
				case iamx.IsNoSuchEntity(err):
					f.Owners[id] = ""
				case err != nil:
					return req, f, fmt.Errorf("user %s: %w", req.User, iamx.CallError("GetAccessKeyLastUsed", setupkeys.MaskKeyID(id), err))
				default:
					f.Owners[id] = aws.ToString(out.UserName)
				}
			}
		case n.Password:
			_, err := api.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(req.User)})
			switch {
			case iamx.IsNoSuchEntity(err): // no password, or the user was deleted just now: not flagged either way
				f.PasswordKnown = true
			case err != nil:
				return req, f, fmt.Errorf("user %s: %w", req.User, iamx.CallError("GetLoginProfile", "", err))
			default:
				f.PasswordKnown, f.Password = true, true
			}
		case n.User:
			out, err := api.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(req.User)})
			switch {
			case iamx.IsNoSuchEntity(err):
				f.UserGone = true
			case err != nil:
				return req, f, fmt.Errorf("user %s: %w", req.User, iamx.CallError("GetUser", "", err))
			case out.User == nil || out.User.CreateDate == nil:
				return req, f, fmt.Errorf("user %s: iam GetUser: no CreateDate in the answer", req.User)
			default:
				f.UserCreated = out.User.CreateDate.UTC().Truncate(time.Second)
			}
		default:
			for _, id := range n.LastUsed {
				i := slices.IndexFunc(f.Keys, func(k LiveKey) bool { return k.ID == id })
				k := &f.Keys[i]
				out, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
				switch {
				case iamx.IsNoSuchEntity(err):
					k.Gone = true
				case err != nil:
					return req, f, fmt.Errorf("user %s: %w", req.User, iamx.CallError("GetAccessKeyLastUsed", setupkeys.MaskKeyID(id), err))
				default:
					SetLastUsed(&k.AccessKey, out.AccessKeyLastUsed)
				}
				k.LastUsedKnown = true
			}
		}
	}
}

// SetLastUsed copies GetAccessKeyLastUsed's answer into k. A key never used has no date, and
// service and region "N/A".
func SetLastUsed(k *setupkeys.AccessKey, lu *types.AccessKeyLastUsed) {
	if lu == nil {
		return
	}
	if lu.LastUsedDate != nil {
		k.LastUsed = lu.LastUsedDate.UTC()
	}
	k.LastUsedService = notNA(aws.ToString(lu.ServiceName))
	k.LastUsedRegion = notNA(aws.ToString(lu.Region))
}

func notNA(s string) string {
	if strings.EqualFold(s, "N/A") {
		return ""
	}
	return s
}
