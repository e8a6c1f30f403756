package remediate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/interrupt"
	"github.com/setupkeys/setupkeys/internal/keycheck"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// IAM is the part of the IAM API that apply and rollback use: the key check's reads and the
// writes. *iam.Client satisfies it.
type IAM interface {
	keycheck.API
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, optFns ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
}

var _ IAM = (*iam.Client)(nil)

// Options configure Apply.
type Options struct {
	// Action is ActionDeactivate (also the zero value) or ActionDelete.
	Action Action
	// JournalPath is the journal file; it is created if missing and appended to otherwise. Use
	// the same journal to re-run after an interruption and for Rollback.
	JournalPath string
	// Client reaches CallerAccount with the caller's own credentials.
	Client IAM
	// ClientFor returns the client for another account of a multi-account plan (the CLI assumes
	// a role there). It is called once per account, when the first key of that account comes
	// up; an error fails that account's keys and the run goes on. Needed only when the plan
	// acts outside CallerAccount.
	ClientFor func(ctx context.Context, accountID string) (IAM, error)
	// CallerAccount is the account the credentials belong to (sts:GetCallerIdentity). A plan
	// for another account is refused; a multi-account plan must have been made by this account.
	CallerAccount string
	// OnResult, when set, is called with each key's result as soon as it is known.
	OnResult func(KeyResult)
	// Now is the clock for journal entries; nil means time.Now.
	Now func() time.Time
	// CallTimeout bounds each IAM write once sent, even after the run's context is cancelled
	// (a first Ctrl-C lets the call in flight finish); 0 means DefaultCallTimeout.
	CallTimeout time.Duration
}

// DefaultCallTimeout bounds one IAM write, all its attempts included, when the client sets no
// tighter bound of its own.
const DefaultCallTimeout = 2 * time.Minute

// Outcome is what happened to one key.
type Outcome string

const (
	OutcomeDeactivated Outcome = "deactivated"
	OutcomeDeleted     Outcome = "deleted"
	OutcomeReactivated Outcome = "reactivated"
	// OutcomeSkipped: a precondition no longer held (gone, already inactive, used since the
	// plan); nothing was done.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeRefused: the plan entry does not describe the live key: the key is another
	// user's, or the key or its user was created at another time than the plan says. These
	// facts cannot change after a plan is made, so the plan was edited or made for another
	// account; nothing was done, and the run exits non-zero.
	OutcomeRefused Outcome = "refused"
	// OutcomeFailed: the check or the call failed (IAM answered with an error, or the key
	// could not be verified); a re-run with the same journal tries again.
	OutcomeFailed Outcome = "failed"
	// OutcomeUnknown: the call was sent but no answer came (it timed out or the connection
	// was cut): IAM may or may not have acted. A re-run resolves it from the key's live state.
	OutcomeUnknown Outcome = "unknown"
	// OutcomeNotRestorable: Rollback cannot bring the key back (it was deleted).
	OutcomeNotRestorable Outcome = "not-restorable"
)

// KeyResult is one key's result.
type KeyResult struct {
	AccountID   string  `json:"account_id"`
	User        string  `json:"user"`
	AccessKeyID string  `json:"access_key_id"`
	FindingID   string  `json:"finding_id,omitempty"`
	Action      Action  `json:"action"`
	Outcome     Outcome `json:"outcome"`
	// Reason says why a key was skipped, failed or not restorable, or notes how it was done.
	Reason string `json:"reason,omitempty"`
	// Earlier is true when the journal shows an earlier run did it; nothing was done now.
	Earlier bool `json:"earlier,omitempty"`
	// Recovered is true when an earlier run was interrupted after its intent and this run
	// found the key already in the target state, so it recorded done without acting again.
	Recovered bool `json:"recovered,omitempty"`
}

// Summary is the result of an Apply or Rollback run.
type Summary struct {
	PlanID    string      `json:"plan_id,omitempty"`
	AccountID string      `json:"account_id"`
	Action    Action      `json:"action"`
	Journal   string      `json:"journal"`
	Results   []KeyResult `json:"results"`
	// Notes say what opening the journal did to it (a torn last line cut), for the person.
	Notes []string `json:"notes,omitempty"`
}

// Failed reports whether any key failed or has an unknown outcome: the run exits non-zero.
func (s *Summary) Failed() bool {
	for _, r := range s.Results {
		if r.Outcome == OutcomeFailed || r.Outcome == OutcomeUnknown {
			return true
		}
	}
	return false
}

// Refused counts the keys refused because the plan does not describe them (OutcomeRefused).
func (s *Summary) Refused() int { return s.Counts()[OutcomeRefused] }

// NothingApplied reports whether a run had keys and acted on none of them, now or in an earlier
// run: every key was skipped, refused or failed. A plan whose every key the rule no longer flags
// (stale, or edited) changes nothing; apply says so with a non-zero exit.
func (s *Summary) NothingApplied() bool {
	for _, r := range s.Results {
		if r.Outcome != OutcomeSkipped && r.Outcome != OutcomeFailed && r.Outcome != OutcomeRefused {
			return false
		}
	}
	return len(s.Results) > 0
}

// notAttempted is the reason for keys left when the run was stopped.
func notAttempted(ctx context.Context) string {
	if ie := interrupt.Cause(ctx); ie != nil {
		return "not attempted: the run was interrupted; run the same command again to resume"
	}
	return "not attempted: the run was stopped (" + context.Cause(ctx).Error() + ")"
}

// errNotAttempted is returned by one() when the run was stopped before the key was acted on;
// nothing was journalled for it.
var errNotAttempted = errors.New("not attempted")

// callContext is the context of an IAM write: it outlives the run's cancellation (a first
// signal lets a call in flight finish and be journalled) but is bounded by timeout.
func callContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}

// answered reports whether IAM answered the call (with an error): then nothing was changed.
// Without an answer (a timeout, a cut connection) the call may have been carried out.
func answered(err error) bool {
	var re *awshttp.ResponseError
	var api smithy.APIError
	return errors.As(err, &re) || errors.As(err, &api)
}

// Counts tallies the results by outcome.
func (s *Summary) Counts() map[Outcome]int {
	c := map[Outcome]int{}
	for _, r := range s.Results {
		c[r.Outcome]++
	}
	return c
}

// Apply carries out a plan: for each planned key, in order, it re-checks the key, writes an
// intent entry, acts, and writes the outcome, each entry synced to disk before going on. It
// refuses an invalid or unresolved plan, a plan for another account than CallerAccount, and a
// journal held by another process. Per-key problems do not stop the run: they are results.
// The returned Summary is non-nil whenever the run started; an error with it means the run
// stopped early (a journal write failed, the context ended).
func Apply(ctx context.Context, p *Plan, opts Options) (*Summary, error) {
	if opts.Action == "" {
		opts.Action = ActionDeactivate
	}
	if opts.Action != ActionDeactivate && opts.Action != ActionDelete {
		return nil, fmt.Errorf("apply: action %q: use deactivate or delete", opts.Action)
	}
	if opts.Client == nil {
		return nil, errors.New("apply: no IAM client")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !p.Resolved {
		return nil, fmt.Errorf("%w: %d of %d planned keys are known only from a report file; resolve them against the live account first (setupkeys plan --report FILE --resolve, or plan from the live account)", ErrUnresolved, len(p.Unresolved()), len(p.Actions))
	}
	if opts.CallerAccount != p.AccountID {
		if p.MultiAccount() {
			return nil, fmt.Errorf("%w: the plan was made by account %s and must be applied with its credentials, but the credentials are for account %q", ErrWrongAccount, p.AccountID, opts.CallerAccount)
		}
		return nil, fmt.Errorf("%w: the plan is for account %s but the credentials are for account %q", ErrWrongAccount, p.AccountID, opts.CallerAccount)
	}
	planAccounts := map[string]bool{p.AccountID: true}
	for _, acct := range p.ActionAccounts() {
		planAccounts[acct] = true
		if acct != opts.CallerAccount && opts.ClientFor == nil {
			return nil, fmt.Errorf("apply: the plan acts in account %s and nothing reaches it (no ClientFor)", acct)
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	j, err := openJournal(opts.JournalPath, now, false)
	var f1 *Format1Error
	if errors.As(err, &f1) {
		return nil, fmt.Errorf("%w; start a new journal with --journal NEW", err)
	}
	if err != nil {
		return nil, err
	}
	defer j.close()
	digest := planDigest(p)
	for _, e := range j.entries {
		if e.PlanID != p.ID {
			continue
		}
		if !planAccounts[e.AccountID] {
			return nil, fmt.Errorf("%w: journal %s records plan %s for account %s", ErrWrongAccount, termsafe.String(opts.JournalPath), p.ID, e.AccountID)
		}
		if e.PlanDigest != digest {
			return nil, fmt.Errorf("%w: %s:%d records plan %s with other content (digest %s, the plan's is %s): the plan was changed after it was applied; nothing was done", ErrBadJournal, termsafe.String(opts.JournalPath), e.Seq, p.ID, termsafe.Excerpt(e.PlanDigest, 80), digest)
		}
	}
	a := &applier{opts: opts, plan: p, j: j, digest: digest, clients: map[string]accountClient{}}
	sum := &Summary{PlanID: p.ID, AccountID: p.AccountID, Action: opts.Action, Journal: opts.JournalPath, Results: []KeyResult{}, Notes: j.notes}
	for i, k := range p.Actions {
		r, err := a.one(ctx, k)
		if errors.Is(err, errNotAttempted) {
			for _, rest := range p.Actions[i:] {
				r := a.result(rest, OutcomeFailed, notAttempted(ctx))
				sum.Results = append(sum.Results, r)
				if opts.OnResult != nil {
					opts.OnResult(r)
				}
			}
			return sum, context.Cause(ctx)
		}
		if err != nil {
			return sum, err
		}
		sum.Results = append(sum.Results, r)
		if opts.OnResult != nil {
			opts.OnResult(r)
		}
	}
	return sum, nil
}

// planDigest is the digest every journal entry of the plan carries (Entry.PlanDigest): the
// plan file's, or for a plan never written, that of the file Save would write.
func planDigest(p *Plan) string {
	if p.Digest == "" {
		p.Write(io.Discard) // sets Digest
	}
	return p.Digest
}

type applier struct {
	opts    Options
	plan    *Plan
	digest  string
	j       *journal
	clients map[string]accountClient
}

// accountClient is an account's client, or why there is none.
type accountClient struct {
	c   IAM
	err error
}

// clientFor returns the client for account: the caller's own, or ClientFor's, made once.
func clientFor(ctx context.Context, cache map[string]accountClient, account, caller string, own IAM, other func(context.Context, string) (IAM, error)) (IAM, error) {
	if account == caller {
		return own, nil
	}
	if ac, ok := cache[account]; ok {
		return ac.c, ac.err
	}
	var ac accountClient
	if other == nil {
		ac.err = fmt.Errorf("account %s is not the caller's (%s) and nothing reaches it", account, caller)
	} else if ac.c, ac.err = other(ctx, account); ac.err == nil && ac.c == nil {
		ac.err = fmt.Errorf("no client for account %s", account)
	}
	cache[account] = ac
	return ac.c, ac.err
}

func (a *applier) result(k PlannedKey, o Outcome, reason string) KeyResult {
	return KeyResult{AccountID: k.AccountID, User: k.User, AccessKeyID: k.KeyID(), FindingID: k.FindingID, Action: a.opts.Action, Outcome: o, Reason: reason}
}

func (a *applier) entry(k PlannedKey, phase Phase, reason string) Entry {
	e := Entry{PlanID: a.plan.ID, PlanDigest: a.digest, AccountID: k.AccountID, Action: a.opts.Action, Phase: phase, User: k.User, AccessKeyID: k.KeyID(), FindingID: k.FindingID, Reason: reason}
	if a.plan.MultiAccount() {
		e.CallerAccount = a.plan.AccountID
	}
	return e
}

func (a *applier) doneOutcome() Outcome {
	if a.opts.Action == ActionDelete {
		return OutcomeDeleted
	}
	return OutcomeDeactivated
}

// finish journals a per-key outcome and returns its result. A journal error stops the run.
func (a *applier) finish(k PlannedKey, phase Phase, outcome Outcome, reason string) (KeyResult, error) {
	if err := a.j.append(a.entry(k, phase, reason)); err != nil {
		return KeyResult{}, err
	}
	return a.result(k, outcome, reason), nil
}

func (a *applier) one(ctx context.Context, k PlannedKey) (KeyResult, error) {
	jk := journalKey{a.plan.ID, k.KeyID(), a.opts.Action}
	var done Entry
	var isDone bool
	if a.opts.Action == ActionDelete {
		var at int
		done, at = a.j.lastDone(jk)
		isDone = at >= 0
	} else {
		// A rollback after the deactivation undoes it: apply the plan again if asked.
		done, isDone = a.j.deactivated(a.plan.ID, k.KeyID())
	}
	if e := done; isDone {
		r := a.result(k, a.doneOutcome(), fmt.Sprintf("done by an earlier run at %s (journal); not acted on again", e.Time.Format(time.RFC3339)))
		r.Earlier = true
		return r, nil
	}
	interrupted := a.j.outcomeOpen(jk)
	if ctx.Err() != nil {
		return KeyResult{}, errNotAttempted
	}
	client, err := clientFor(ctx, a.clients, k.AccountID, a.opts.CallerAccount, a.opts.Client, a.opts.ClientFor)
	if err != nil {
		if ctx.Err() != nil {
			return KeyResult{}, errNotAttempted
		}
		return a.finish(k, PhaseFailed, OutcomeFailed, fmt.Sprintf("cannot reach account %s: %v", k.AccountID, err))
	}
	cur, err := a.checkKey(ctx, client, k)
	if err != nil {
		if ctx.Err() != nil {
			return KeyResult{}, errNotAttempted
		}
		return a.finish(k, PhaseFailed, OutcomeFailed, "cannot check the key: "+err.Error())
	}
	if interrupted {
		// An earlier run wrote the intent and stopped before its outcome: the call may or may
		// not have happened. If the key is already where the call would put it, record done
		// without calling again.
		reached := (a.opts.Action == ActionDeactivate && cur.exists && cur.status == keyStatusInactive) ||
			(a.opts.Action == ActionDelete && !cur.exists)
		if reached {
			e := a.entry(k, PhaseDone, "an earlier run stopped after its intent; the key was found already "+targetState(a.opts.Action))
			e.Recovered = true
			if err := a.j.append(e); err != nil {
				return KeyResult{}, err
			}
			r := a.result(k, a.doneOutcome(), "an earlier run was interrupted; the key was found already "+targetState(a.opts.Action)+", so it was not acted on again")
			r.Recovered = true
			return r, nil
		}
	}
	if outcome, why := a.precondition(k, cur); why != "" {
		return a.finish(k, PhaseSkipped, outcome, why)
	}
	// From the intent to the outcome's entry, a first signal waits: the call is carried out
	// or times out, and what happened is journalled.
	release := interrupt.Hold(ctx)
	defer release()
	if ctx.Err() != nil {
		return KeyResult{}, errNotAttempted
	}
	if err := a.j.append(a.entry(k, PhaseIntent, "")); err != nil {
		return KeyResult{}, err
	}
	callCtx, cancel := callContext(ctx, a.opts.CallTimeout)
	defer cancel()
	switch a.opts.Action {
	case ActionDelete:
		_, err = client.DeleteAccessKey(callCtx, &iam.DeleteAccessKeyInput{UserName: aws.String(k.User), AccessKeyId: aws.String(k.KeyID())}, writeRetry)
	default:
		_, err = client.UpdateAccessKey(callCtx, &iam.UpdateAccessKeyInput{UserName: aws.String(k.User), AccessKeyId: aws.String(k.KeyID()), Status: types.StatusTypeInactive}, writeRetry)
	}
	if err != nil && !answered(err) {
		return a.finish(k, PhaseUnknown, OutcomeUnknown, fmt.Sprintf("%s sent but no answer came (%v): IAM may or may not have acted; run again with the same journal to resolve it from the key's live state", a.opts.Action, err))
	}
	if err != nil {
		if iamx.IsNoSuchEntity(err) {
			if a.opts.Action == ActionDelete {
				// The key is gone, as asked. The SDK may have retried a delete whose first
				// attempt succeeded but whose answer was lost, so this may well be our doing.
				return a.finish(k, PhaseDone, OutcomeDeleted, "IAM answered NoSuchEntity: the key is gone (deleted by an earlier attempt of this call, or by someone else)")
			}
			return a.finish(k, PhaseSkipped, OutcomeSkipped, "the key was gone when acted on; nothing was done")
		}
		return a.finish(k, PhaseFailed, OutcomeFailed, fmt.Sprintf("%s failed: %v", a.opts.Action, err))
	}
	return a.finish(k, PhaseDone, a.doneOutcome(), "")
}

func targetState(action Action) string {
	switch action {
	case ActionDelete:
		return "deleted"
	case ActionReactivate:
		return "Active"
	}
	return "Inactive"
}

// precondition is the key check's verdict on the key right before acting: why the key must be
// left alone and how (OutcomeSkipped or OutcomeRefused), or "". The rule is re-run on live facts
// with the plan's window: the user still has a console password, the key is still Active (or
// Inactive by this journal's deactivation, for a delete), made within the window of the user's
// creation (GetUser) and never used. What may change after a plan (a password removed, a key
// used, deactivated or deleted since, a user deleted) skips the key; a key of another user, a
// key or a user created at another time than the plan says is not the plan's key: refused.
func (a *applier) precondition(k PlannedKey, cur keyState) (Outcome, string) {
	d := cur.decision
	switch d.Cause {
	case "":
	case keycheck.CauseOtherUser, keycheck.CauseCreatedDiffers, keycheck.CauseUserCreatedDiffers:
		return OutcomeRefused, "the plan does not describe this key (edited, or made for another account): " + d.Reason
	case keycheck.CauseInactive:
		if a.opts.Action == ActionDelete && cur.status == keyStatusInactive {
			return OutcomeSkipped, "the key is already Inactive and this journal did not deactivate it; not deleting a key someone else turned off"
		}
		return OutcomeSkipped, fmt.Sprintf("the key is already %s", cur.status)
	case keycheck.CauseNoPassword:
		return OutcomeSkipped, "the user has no console password now, so the rule does not flag the key"
	default:
		return OutcomeSkipped, d.Reason
	}
	switch v := d.Verdict; {
	case v.Status == setupkeys.StatusFail:
		return "", ""
	case v.Status == setupkeys.StatusReview && a.plan.IncludeReview:
		return "", ""
	case v.Status == setupkeys.StatusReview:
		return OutcomeSkipped, "the rule makes the key a review finding and the plan does not include review findings"
	case !d.Key.LastUsed.IsZero():
		when := d.Key.LastUsed.UTC().Format(time.RFC3339)
		if svc := d.Key.LastUsedService; svc != "" {
			return OutcomeSkipped, fmt.Sprintf("the key has been used since the plan (last used %s with %s)", when, svc)
		}
		return OutcomeSkipped, fmt.Sprintf("the key has been used since the plan (last used %s)", when)
	}
	return OutcomeSkipped, "the rule does not flag the key now: " + d.Reason
}

// keyState is a key as ListAccessKeys shows it now, and for apply the key check's decision.
type keyState struct {
	exists   bool
	userGone bool
	status   string
	created  time.Time
	decision keycheck.Decision
}

// findKey lists the user's keys (every page) and returns the one with id (rollback, which puts
// back what the journal did rather than judging).
func findKey(ctx context.Context, c IAM, user, id string) (keyState, error) {
	keys, err := iamx.ListAccessKeys(ctx, c, user, nil)
	if err != nil {
		if iamx.IsNoSuchEntity(err) {
			return keyState{userGone: true}, nil
		}
		return keyState{}, fmt.Errorf("iam:ListAccessKeys %s: %w", user, err)
	}
	for _, m := range keys {
		if aws.ToString(m.AccessKeyId) == id {
			return keyState{exists: true, status: string(m.Status), created: aws.ToTime(m.CreateDate)}, nil
		}
	}
	return keyState{}, nil
}

// checkKey runs the key check on one planned key: the user's keys (every page), then what the rule
// needs. A key this journal deactivated is judged as it was (deleting what apply deactivated).
func (a *applier) checkKey(ctx context.Context, c IAM, k PlannedKey) (keyState, error) {
	_, ours := a.j.deactivated(a.plan.ID, k.KeyID())
	req := keycheck.Request{AccountID: k.AccountID, User: k.User, ARN: k.ARN, ExpectedUserCreated: k.Preconditions.UserCreated, Keys: []keycheck.Want{{
		Slot: k.KeySlot, ID: k.KeyID(), Created: k.Preconditions.CreateDate,
		DeactivatedByCaller: ours && a.opts.Action == ActionDelete,
	}}}
	res, err := keycheck.Check(ctx, c, req, keycheck.Options{Rule: rule.Options{Window: a.plan.SetupWindow()}})
	if err != nil {
		return keyState{}, err
	}
	d := res.Keys[0]
	st := keyState{userGone: d.Cause == keycheck.CauseUserGone, decision: d}
	if d.Key.ID != "" {
		st.exists, st.status, st.created = true, d.Key.Status, d.Key.Created
	}
	return st, nil
}

// writeRetry makes IAM writes also retry IAM's own transient codes on top of the client's
// retryer (which already retries throttling and 5xx): ConcurrentModification while IAM
// settles a recent change.
func writeRetry(o *iam.Options) {
	if o.Retryer == nil {
		o.Retryer = retry.NewStandard()
	}
	o.Retryer = retry.AddWithErrorCodes(o.Retryer, (&types.ConcurrentModificationException{}).ErrorCode())
}
