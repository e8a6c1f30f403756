package remediate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/interrupt"
)

// RollbackOptions configure Rollback.
type RollbackOptions struct {
	// JournalPath is the journal Apply wrote; Rollback appends its own entries to it.
	JournalPath string
	// Client reaches CallerAccount with the caller's own credentials.
	Client IAM
	// ClientFor returns the client for another account, for journals of multi-account plans
	// (entries with a caller_account). Called once per account; an error fails that account's
	// keys and the run goes on.
	ClientFor func(ctx context.Context, accountID string) (IAM, error)
	// CallerAccount is the credentials' account. Keys the journal recorded for another account
	// are refused, unless a multi-account plan made by this same account deactivated them
	// (they are then reached through ClientFor).
	CallerAccount string
	// PlanID limits the rollback to one plan's keys when the journal holds several; "" means all.
	PlanID string
	// IncludeRecovered re-activates keys whose deactivation the journal only recovered (see
	// RollbackCandidate.Recovered) too. Without it they are skipped: this tool may not have
	// deactivated them.
	IncludeRecovered bool
	// VerifyAttempts and VerifyDelay bound how long Rollback waits for IAM to show a
	// re-activated key as Active (IAM is eventually consistent). Zero means 5 and 1s.
	VerifyAttempts int
	VerifyDelay    time.Duration
	OnResult       func(KeyResult)
	Now            func() time.Time
	// CallTimeout bounds the re-activation call once sent (see Options.CallTimeout).
	CallTimeout time.Duration
	// Format1 allows a journal of format 1 (unchained, from an older setupkeys; see
	// Format1Error), which nothing proves untampered: only keys it records as deactivated
	// (done) are re-activated, and the rollback's own entries are appended in format 1.
	Format1 bool
}

// RollbackCandidate is a key a journal deactivated, with what the journal says became of it.
type RollbackCandidate struct {
	PlanID     string
	PlanDigest string
	AccountID  string
	// CallerAccount is the multi-account plan's caller account ("" for a single-account plan).
	CallerAccount string
	User          string
	AccessKeyID   string
	FindingID     string
	Deactivated   time.Time
	// Reactivated is set when a rollback recorded in the journal re-activated the key after
	// its latest deactivation.
	Reactivated *time.Time
	// Deleted is set when the journal also records the key's deletion.
	Deleted *time.Time
	// Recovered is true when the latest deactivation was recorded without acting: a run was
	// interrupted after its intent and the re-run found the key already Inactive. The call may
	// have happened before the interruption, or someone else may have deactivated the key in
	// between, on purpose; the journal cannot tell which.
	Recovered bool
	// Unsettled is true when the journal records the intent to deactivate the key but no
	// outcome (the run was killed, or the call's answer never came): IAM may or may not have
	// acted. Like Recovered, it is re-activated only with IncludeRecovered, and only when the
	// key is found Inactive.
	Unsettled bool
}

// UnsettledSkipReason is why Rollback leaves a deactivation of unknown outcome alone.
const UnsettledSkipReason = "the run that deactivated it was interrupted before its outcome was known: setupkeys may or may not have deactivated it; roll back with --include-recovered to re-activate it if it is Inactive"

// RecoveredSkipReason is why Rollback leaves a recovered deactivation alone.
const RecoveredSkipReason = "found already inactive after an interrupted run: setupkeys may not have deactivated it; re-activate by hand if intended, or roll back with --include-recovered"

// Restorable reports whether Rollback would try to re-activate the key: the journal neither
// deleted nor re-activated it since, and its deactivation was not only recovered (unless
// includeRecovered).
func (c RollbackCandidate) Restorable(includeRecovered bool) bool {
	return c.Deleted == nil && c.Reactivated == nil && (!c.Recovered || includeRecovered)
}

// Candidates lists, in journal order, the keys the entries record as deactivated or deleted (a
// done entry), with the latest deactivation and what came after it. Deleted keys are listed so
// Rollback can say, per key, that they cannot come back.
func Candidates(entries []Entry, planID string) []RollbackCandidate {
	idx := map[string]int{}
	var out []RollbackCandidate
	// A deactivation with no known outcome (an intent without its done, an unknown answer) is
	// a candidate too: straight after a kill -9 the key may be Inactive by our doing.
	settled := &journal{last: map[journalKey]Phase{}, lastRun: map[journalKey]string{}, done: map[journalKey]int{}, pending: map[journalKey]bool{}}
	for _, e := range entries {
		if planID != "" && e.PlanID != planID {
			continue
		}
		settled.add(e)
		i, seen := idx[e.AccessKeyID]
		t := e.Time
		c := RollbackCandidate{PlanID: e.PlanID, PlanDigest: e.PlanDigest, AccountID: e.AccountID, CallerAccount: e.CallerAccount, User: e.User, AccessKeyID: e.AccessKeyID, FindingID: e.FindingID, Deactivated: e.Time}
		switch {
		case e.Action == ActionDeactivate && e.Phase == PhaseIntent:
			c.Recovered, c.Unsettled = true, true
			switch {
			case !seen:
				idx[e.AccessKeyID] = len(out)
				out = append(out, c)
			case out[i].Reactivated != nil && out[i].Deleted == nil:
				out[i] = c // deactivated again after a rollback
			}
		case e.Phase != PhaseDone:
		case e.Action == ActionDeactivate:
			c.Recovered = e.Recovered
			if !seen {
				idx[e.AccessKeyID] = len(out)
				out = append(out, c)
			} else {
				c.Deleted = out[i].Deleted
				out[i] = c
			}
		case e.Action == ActionReactivate:
			if seen {
				out[i].Reactivated = &t
			}
		case e.Action == ActionDelete:
			if !seen {
				idx[e.AccessKeyID] = len(out)
				c.Deactivated = time.Time{}
				out = append(out, c)
				i = len(out) - 1
			}
			out[i].Deleted = &t
		}
	}
	// An intent that a later entry settled without a done (skipped, IAM's error answer) was
	// no deactivation.
	kept := out[:0]
	for _, c := range out {
		if c.Unsettled && !settled.pending[journalKey{c.PlanID, c.AccessKeyID, ActionDeactivate}] {
			continue
		}
		kept = append(kept, c)
	}
	return kept
}

// Rollback re-activates the keys this journal deactivated, and only those: each is checked to
// exist and be Inactive first, set Active, then read back until IAM shows it Active. A key the
// journal records as deleted, or that no longer exists, cannot come back: its result says so
// (OutcomeNotRestorable). A key whose deactivation was only recovered after an interrupted run
// is skipped (RecoveredSkipReason) unless IncludeRecovered. Rollback journals its own intent and done entries (action
// "reactivate"), so it too can be re-run after an interruption.
func Rollback(ctx context.Context, opts RollbackOptions) (*Summary, error) {
	if opts.Client == nil {
		return nil, errors.New("rollback: no IAM client")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.VerifyAttempts <= 0 {
		opts.VerifyAttempts = 5
	}
	if opts.VerifyDelay <= 0 {
		opts.VerifyDelay = time.Second
	}
	j, err := openJournal(opts.JournalPath, now, opts.Format1)
	var f1 *Format1Error
	if errors.As(err, &f1) {
		return nil, fmt.Errorf("%w; roll it back with --legacy-journal, which re-activates only the keys it records as deactivated (done), trusting a file that cannot be proven untampered", err)
	}
	if err != nil {
		return nil, err
	}
	defer j.close()
	cands := Candidates(j.entries, opts.PlanID)
	if j.format1 {
		cands = DoneOnly(cands)
	}
	if err := CheckRollbackAccounts(cands, opts.CallerAccount); err != nil {
		return nil, fmt.Errorf("journal %s: %w", opts.JournalPath, err)
	}
	for _, c := range cands {
		if c.AccountID != opts.CallerAccount && opts.ClientFor == nil {
			return nil, fmt.Errorf("rollback: the journal deactivated keys in account %s and nothing reaches it (no ClientFor)", c.AccountID)
		}
	}
	sum := &Summary{PlanID: opts.PlanID, AccountID: opts.CallerAccount, Action: ActionReactivate, Journal: opts.JournalPath, Results: []KeyResult{}, Notes: j.notes}
	r := &roller{opts: opts, j: j, clients: map[string]accountClient{}}
	for i, c := range cands {
		res, err := r.one(ctx, c)
		if errors.Is(err, errNotAttempted) {
			for _, rest := range cands[i:] {
				res := r.result(rest, OutcomeFailed, notAttempted(ctx))
				sum.Results = append(sum.Results, res)
				if opts.OnResult != nil {
					opts.OnResult(res)
				}
			}
			return sum, context.Cause(ctx)
		}
		if err != nil {
			return sum, err
		}
		sum.Results = append(sum.Results, res)
		if opts.OnResult != nil {
			opts.OnResult(res)
		}
	}
	return sum, nil
}

// CheckRollbackAccounts tells whether callerAccount may roll back the candidates: a key of a
// single-account plan only from its own account, a key of a multi-account plan only from the
// plan's caller account (which reaches the key's account through a role). It returns
// ErrWrongAccount naming the accounts otherwise.
func CheckRollbackAccounts(cands []RollbackCandidate, callerAccount string) error {
	own, via := map[string]bool{}, map[string]bool{}
	for _, c := range cands {
		switch {
		case c.CallerAccount != "" && c.CallerAccount != callerAccount:
			via[c.CallerAccount] = true
		case c.CallerAccount == "" && c.AccountID != callerAccount:
			own[c.AccountID] = true
		}
	}
	if len(own) == 0 && len(via) == 0 {
		return nil
	}
	var parts []string
	if len(own) > 0 {
		parts = append(parts, "it deactivated keys in account "+strings.Join(sortedKeys(own), ", "))
	}
	if len(via) > 0 {
		parts = append(parts, "a multi-account plan made by account "+strings.Join(sortedKeys(via), ", ")+" deactivated keys")
	}
	return fmt.Errorf("%w: %s, but the credentials are for account %q", ErrWrongAccount, strings.Join(parts, " and "), callerAccount)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type roller struct {
	opts    RollbackOptions
	j       *journal
	clients map[string]accountClient
}

func (r *roller) result(c RollbackCandidate, o Outcome, reason string) KeyResult {
	return KeyResult{AccountID: c.AccountID, User: c.User, AccessKeyID: c.AccessKeyID, FindingID: c.FindingID, Action: ActionReactivate, Outcome: o, Reason: reason}
}

func (r *roller) entry(c RollbackCandidate, phase Phase, reason string) Entry {
	return Entry{PlanID: c.PlanID, PlanDigest: c.PlanDigest, AccountID: c.AccountID, CallerAccount: c.CallerAccount, Action: ActionReactivate, Phase: phase, User: c.User, AccessKeyID: c.AccessKeyID, FindingID: c.FindingID, Reason: reason}
}

func (r *roller) finish(c RollbackCandidate, phase Phase, o Outcome, reason string) (KeyResult, error) {
	if err := r.j.append(r.entry(c, phase, reason)); err != nil {
		return KeyResult{}, err
	}
	return r.result(c, o, reason), nil
}

func (r *roller) one(ctx context.Context, c RollbackCandidate) (KeyResult, error) {
	if c.Deleted != nil {
		res := r.result(c, OutcomeNotRestorable, fmt.Sprintf("cannot be restored: this journal deleted the key at %s; a deleted key cannot come back (create a new one if the user needs it)", c.Deleted.UTC().Format(time.RFC3339)))
		return res, nil
	}
	jk := journalKey{c.PlanID, c.AccessKeyID, ActionReactivate}
	if c.Reactivated != nil {
		res := r.result(c, OutcomeReactivated, fmt.Sprintf("re-activated by an earlier rollback at %s (journal); not acted on again", c.Reactivated.UTC().Format(time.RFC3339)))
		res.Earlier = true
		return res, nil
	}
	if c.Unsettled && !r.opts.IncludeRecovered {
		return r.result(c, OutcomeSkipped, UnsettledSkipReason), nil
	}
	if c.Recovered && !r.opts.IncludeRecovered {
		// Decided from the journal alone, like a deletion: nothing is checked or written.
		return r.result(c, OutcomeSkipped, RecoveredSkipReason), nil
	}
	interrupted := r.j.outcomeOpen(jk)
	if ctx.Err() != nil {
		return KeyResult{}, errNotAttempted
	}
	client, err := clientFor(ctx, r.clients, c.AccountID, r.opts.CallerAccount, r.opts.Client, r.opts.ClientFor)
	if err != nil {
		if ctx.Err() != nil {
			return KeyResult{}, errNotAttempted
		}
		return r.finish(c, PhaseFailed, OutcomeFailed, fmt.Sprintf("cannot reach account %s: %v", c.AccountID, err))
	}
	cur, err := findKey(ctx, client, c.User, c.AccessKeyID)
	if err != nil {
		if ctx.Err() != nil {
			return KeyResult{}, errNotAttempted
		}
		return r.finish(c, PhaseFailed, OutcomeFailed, "cannot check the key: "+err.Error())
	}
	if !cur.exists {
		reason := "cannot be restored: the key no longer exists (deleted outside this journal)"
		if cur.userGone {
			reason = "cannot be restored: the user no longer exists"
		}
		return r.finish(c, PhaseSkipped, OutcomeNotRestorable, reason)
	}
	if cur.status == keyStatusActive {
		if interrupted {
			e := r.entry(c, PhaseDone, "an earlier rollback stopped after its intent; the key was found already Active")
			e.Recovered = true
			if err := r.j.append(e); err != nil {
				return KeyResult{}, err
			}
			res := r.result(c, OutcomeReactivated, "an earlier rollback was interrupted; the key was found already Active, so it was not acted on again")
			res.Recovered = true
			return res, nil
		}
		if c.Unsettled {
			return r.finish(c, PhaseSkipped, OutcomeSkipped, "the interrupted deactivation did not take effect: the key is Active")
		}
		return r.finish(c, PhaseSkipped, OutcomeSkipped, "the key is already Active; someone re-activated it outside this journal")
	}
	if cur.status != keyStatusInactive {
		return r.finish(c, PhaseSkipped, OutcomeSkipped, fmt.Sprintf("the key is %s, not Inactive; left alone", cur.status))
	}
	release := interrupt.Hold(ctx)
	defer release()
	if ctx.Err() != nil {
		return KeyResult{}, errNotAttempted
	}
	if err := r.j.append(r.entry(c, PhaseIntent, "")); err != nil {
		return KeyResult{}, err
	}
	callCtx, cancel := callContext(ctx, r.opts.CallTimeout)
	defer cancel()
	_, err = client.UpdateAccessKey(callCtx, &iam.UpdateAccessKeyInput{UserName: aws.String(c.User), AccessKeyId: aws.String(c.AccessKeyID), Status: types.StatusTypeActive}, writeRetry)
	if err != nil && !answered(err) {
		return r.finish(c, PhaseUnknown, OutcomeUnknown, fmt.Sprintf("reactivate sent but no answer came (%v): run rollback again to resolve it from the key's live state", err))
	}
	if err != nil {
		if iamx.IsNoSuchEntity(err) {
			return r.finish(c, PhaseSkipped, OutcomeNotRestorable, "cannot be restored: the key was gone when re-activated")
		}
		return r.finish(c, PhaseFailed, OutcomeFailed, "reactivate failed: "+err.Error())
	}
	reason, err := r.verify(callCtx, client, c)
	if err != nil {
		return KeyResult{}, err
	}
	return r.finish(c, PhaseDone, OutcomeReactivated, reason)
}

// verify reads the key back until IAM shows it Active. IAM is eventually consistent, so a
// stale Inactive is retried; the call itself succeeded, so a key never seen Active still counts
// as re-activated, with a note.
func (r *roller) verify(ctx context.Context, client IAM, c RollbackCandidate) (string, error) {
	for i := 0; i < r.opts.VerifyAttempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return "re-activated; not verified: " + ctx.Err().Error(), nil
			case <-time.After(r.opts.VerifyDelay):
			}
		}
		cur, err := findKey(ctx, client, c.User, c.AccessKeyID)
		if err == nil && cur.exists && cur.status == keyStatusActive {
			return "", nil
		}
	}
	return fmt.Sprintf("IAM accepted the change but did not show the key Active after %d reads; check it with `aws iam list-access-keys --user-name %s`", r.opts.VerifyAttempts, c.User), nil
}
