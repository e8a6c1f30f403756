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

	"github.com/setupkeys/setupkeys"
)

// RollbackOptions configure Rollback.
type RollbackOptions struct {
	// JournalPath is the journal Apply wrote; Rollback appends its own entries to it.
	JournalPath string
	Client      IAM
	// CallerAccount is the credentials' account; keys the journal recorded for another
	// account are refused.
	CallerAccount string
	// PlanID limits the rollback to one plan's keys when the journal holds several; "" means all.
	PlanID string
	// VerifyAttempts and VerifyDelay bound how long Rollback waits for IAM to show a
	// re-activated key as Active (IAM is eventually consistent). Zero means 5 and 1s.
	VerifyAttempts int
	VerifyDelay    time.Duration
	OnResult       func(KeyResult)
	Now            func() time.Time
	Hook           Hook
}

// RollbackCandidate is a key a journal deactivated, with what the journal says became of it.
type RollbackCandidate struct {
	PlanID      string
	AccountID   string
	User        string
	AccessKeyID string
	FindingID   string
	Deactivated time.Time
	// Reactivated is set when a rollback recorded in the journal re-activated the key after
	// its latest deactivation.
	Reactivated *time.Time
	// Deleted is set when the journal also records the key's deletion.
	Deleted *time.Time
}

// Candidates lists, in journal order, the keys the entries record as deactivated or deleted (a
// done entry), with the latest deactivation and what came after it. Deleted keys are listed so
// Rollback can say, per key, that they cannot come back.
func Candidates(entries []Entry, planID string) []RollbackCandidate {
	idx := map[string]int{}
	var out []RollbackCandidate
	for _, e := range entries {
		if e.Phase != PhaseDone || (planID != "" && e.PlanID != planID) {
			continue
		}
		i, seen := idx[e.AccessKeyID]
		t := e.Time
		switch e.Action {
		case ActionDeactivate:
			c := RollbackCandidate{PlanID: e.PlanID, AccountID: e.AccountID, User: e.User, AccessKeyID: e.AccessKeyID, FindingID: e.FindingID, Deactivated: e.Time}
			if !seen {
				idx[e.AccessKeyID] = len(out)
				out = append(out, c)
			} else {
				c.Deleted = out[i].Deleted
				out[i] = c
			}
		case ActionReactivate:
			if seen {
				out[i].Reactivated = &t
			}
		case ActionDelete:
			if !seen {
				idx[e.AccessKeyID] = len(out)
				out = append(out, RollbackCandidate{PlanID: e.PlanID, AccountID: e.AccountID, User: e.User, AccessKeyID: e.AccessKeyID, FindingID: e.FindingID})
				i = len(out) - 1
			}
			out[i].Deleted = &t
		}
	}
	return out
}

// Rollback re-activates the keys this journal deactivated, and only those: each is checked to
// exist and be Inactive first, set Active, then read back until IAM shows it Active. A key the
// journal records as deleted, or that no longer exists, cannot come back: its result says so
// (OutcomeNotRestorable). Rollback journals its own intent and done entries (action
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
	j, err := openJournal(opts.JournalPath, now)
	if err != nil {
		return nil, err
	}
	defer j.close()
	cands := Candidates(j.entries, opts.PlanID)
	accounts := map[string]bool{}
	for _, c := range cands {
		accounts[c.AccountID] = true
	}
	if len(accounts) > 0 && (len(accounts) > 1 || !accounts[opts.CallerAccount]) {
		list := make([]string, 0, len(accounts))
		for a := range accounts {
			list = append(list, a)
		}
		sort.Strings(list)
		return nil, fmt.Errorf("%w: journal %s deactivated keys in account %s but the credentials are for account %q", ErrWrongAccount, opts.JournalPath, strings.Join(list, ", "), opts.CallerAccount)
	}
	sum := &Summary{PlanID: opts.PlanID, AccountID: opts.CallerAccount, Action: ActionReactivate, Journal: opts.JournalPath, Results: []KeyResult{}}
	r := &roller{opts: opts, j: j}
	for i, c := range cands {
		if err := ctx.Err(); err != nil {
			for _, rest := range cands[i:] {
				res := r.result(rest, OutcomeFailed, "not attempted: the run was interrupted ("+err.Error()+")")
				sum.Results = append(sum.Results, res)
				if opts.OnResult != nil {
					opts.OnResult(res)
				}
			}
			return sum, err
		}
		res, err := r.one(ctx, c)
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

type roller struct {
	opts RollbackOptions
	j    *journal
}

func (r *roller) result(c RollbackCandidate, o Outcome, reason string) KeyResult {
	return KeyResult{AccountID: c.AccountID, User: c.User, AccessKeyID: c.AccessKeyID, FindingID: c.FindingID, Action: ActionReactivate, Outcome: o, Reason: reason}
}

func (r *roller) entry(c RollbackCandidate, phase Phase, reason string) Entry {
	return Entry{PlanID: c.PlanID, AccountID: c.AccountID, Action: ActionReactivate, Phase: phase, User: c.User, AccessKeyID: c.AccessKeyID, FindingID: c.FindingID, Reason: reason}
}

func (r *roller) finish(c RollbackCandidate, phase Phase, o Outcome, reason string) (KeyResult, error) {
	if err := r.j.append(r.entry(c, phase, reason)); err != nil {
		return KeyResult{}, err
	}
	return r.result(c, o, reason), nil
}

func (r *roller) hook(stage Stage, c RollbackCandidate) error {
	if r.opts.Hook == nil {
		return nil
	}
	id := c.AccessKeyID
	k := PlannedKey{FindingID: c.FindingID, AccountID: c.AccountID, User: c.User, AccessKeyID: &id}
	if err := r.opts.Hook(stage, k); err != nil {
		return fmt.Errorf("stopped at %s for %s: %w", stage, setupkeys.MaskKeyID(id), err)
	}
	return nil
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
	interrupted := r.j.intentOpen(jk)
	if err := r.hook(StageBeforeCheck, c); err != nil {
		return KeyResult{}, err
	}
	cur, err := findKey(ctx, r.opts.Client, c.User, c.AccessKeyID)
	if err != nil {
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
			if err := r.j.append(Entry{PlanID: c.PlanID, AccountID: c.AccountID, Action: ActionReactivate, Phase: PhaseDone, User: c.User, AccessKeyID: c.AccessKeyID, FindingID: c.FindingID,
				Reason: "an earlier rollback stopped after its intent; the key was found already Active", Recovered: true}); err != nil {
				return KeyResult{}, err
			}
			res := r.result(c, OutcomeReactivated, "an earlier rollback was interrupted; the key was found already Active, so it was not acted on again")
			res.Recovered = true
			return res, nil
		}
		return r.finish(c, PhaseSkipped, OutcomeSkipped, "the key is already Active; someone re-activated it outside this journal")
	}
	if cur.status != keyStatusInactive {
		return r.finish(c, PhaseSkipped, OutcomeSkipped, fmt.Sprintf("the key is %s, not Inactive; left alone", cur.status))
	}
	if err := r.j.append(r.entry(c, PhaseIntent, "")); err != nil {
		return KeyResult{}, err
	}
	if err := r.hook(StageAfterIntent, c); err != nil {
		return KeyResult{}, err
	}
	_, err = r.opts.Client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(c.User), AccessKeyId: aws.String(c.AccessKeyID), Status: types.StatusTypeActive}, writeRetry)
	if err != nil {
		if isNoSuchEntity(err) {
			return r.finish(c, PhaseSkipped, OutcomeNotRestorable, "cannot be restored: the key was gone when re-activated")
		}
		return r.finish(c, PhaseFailed, OutcomeFailed, "reactivate failed: "+err.Error())
	}
	if err := r.hook(StageAfterCall, c); err != nil {
		return KeyResult{}, err
	}
	reason, err := r.verify(ctx, c)
	if err != nil {
		return KeyResult{}, err
	}
	return r.finish(c, PhaseDone, OutcomeReactivated, reason)
}

// verify reads the key back until IAM shows it Active. IAM is eventually consistent, so a
// stale Inactive is retried; the call itself succeeded, so a key never seen Active still counts
// as re-activated, with a note.
func (r *roller) verify(ctx context.Context, c RollbackCandidate) (string, error) {
	for i := 0; i < r.opts.VerifyAttempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return "re-activated; not verified: " + ctx.Err().Error(), nil
			case <-time.After(r.opts.VerifyDelay):
			}
		}
		cur, err := findKey(ctx, r.opts.Client, c.User, c.AccessKeyID)
		if err == nil && cur.exists && cur.status == keyStatusActive {
			return "", nil
		}
	}
	return fmt.Sprintf("IAM accepted the change but did not show the key Active after %d reads; check it with `aws iam list-access-keys --user-name %s`", r.opts.VerifyAttempts, c.User), nil
}
