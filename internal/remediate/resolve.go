package remediate

import (
	"context"
	"fmt"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/keycheck"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// Resolve fills in the access key IDs a plan made from a report file lacks, from the live
// account, through the key check (internal/keycheck): per user it lists the keys, pairs each
// planned key with the live key made in the same second, and re-judges it with the rule on live
// facts (console password, the user's creation, status, last use) with the plan's window.
//
// A planned key is resolved when the rule flags its live key now as the plan would plan it (fail,
// or review with include_review). Twins made in one second follow the key check's policy: the
// keys the rule flags now are paired first, each once. Every other planned key (used since the
// report, Inactive, deleted, its user deleted or without a console password now) is moved from
// Actions to Listed with why (Unresolved, in plan order). A live key of a planned second that
// the rule flags but the report did not plan is not added: it is listed too (Unplanned), so
// nothing flagged is silently ignored. What remains is resolved: the plan is marked Resolved with
// ResolvedAt = now. The plan ID does not change. An AWS error stops Resolve and leaves the plan
// as it was.
//
// client must reach the plan's account. A multi-account plan is made from live accounts and has
// nothing to resolve; one with unresolved keys is refused (ErrBadPlan).
func Resolve(ctx context.Context, p *Plan, client keycheck.API, now time.Time) (ResolveResult, error) {
	if p.MultiAccount() && !p.allResolved() {
		return ResolveResult{}, fmt.Errorf("%w: a multi-account plan with unresolved keys: multi-account plans are made live, make it again", ErrBadPlan)
	}
	// One key check per user, in plan order. Keys the plan already names by ID are asked by ID,
	// so that no other planned key pairs with them.
	var users []string
	actionsOf := map[string][]int{}
	for i, a := range p.Actions {
		if _, ok := actionsOf[a.User]; !ok {
			users = append(users, a.User)
		}
		actionsOf[a.User] = append(actionsOf[a.User], i)
	}
	resolved := map[int]string{}
	why := map[int]string{}
	var notes []Listed
	opts := keycheck.Options{Rule: rule.Options{Window: p.SetupWindow()}}
	for _, user := range users {
		idx := actionsOf[user]
		first := p.Actions[idx[0]]
		req := keycheck.Request{AccountID: first.AccountID, User: user, ARN: first.ARN}
		unresolved := false
		for _, i := range idx {
			a := p.Actions[i]
			req.Keys = append(req.Keys, keycheck.Want{Slot: a.KeySlot, ID: a.KeyID(), Created: a.Preconditions.CreateDate})
			unresolved = unresolved || a.KeyID() == ""
		}
		if !unresolved {
			continue
		}
		res, err := keycheck.Check(ctx, client, req, opts)
		if err != nil {
			return ResolveResult{}, fmt.Errorf("resolving the keys of %s: %w", user, err)
		}
		for j, d := range res.Keys {
			i := idx[j]
			if p.Actions[i].KeyID() != "" {
				continue
			}
			if w := p.wouldPlan(d); w != "" {
				why[i] = w
				continue
			}
			resolved[i] = d.Key.ID
		}
		for _, d := range res.Unasked {
			id := d.Key.ID
			notes = append(notes, Listed{
				AccountID: first.AccountID, User: user, ARN: first.ARN, AccessKeyID: &id, Status: d.Verdict.Status,
				Why: fmt.Sprintf("not planned: created %s like a planned key and %s now, but the report did not flag it (re-activated since?); plan from the live account to include it",
					d.Key.Created.UTC().Format(time.RFC3339), d.Verdict.Status),
			})
		}
	}
	// Every call succeeded: change the plan.
	actions := make([]PlannedKey, 0, len(p.Actions))
	var moved []Listed
	for i, a := range p.Actions {
		if id, ok := resolved[i]; ok {
			a.AccessKeyID = &id
		}
		if w, ok := why[i]; ok {
			moved = append(moved, Listed{
				FindingID: a.FindingID,
				AccountID: a.AccountID,
				User:      a.User,
				ARN:       a.ARN,
				KeySlot:   a.KeySlot,
				Status:    a.Status,
				Why:       fmt.Sprintf("unresolved: key created %s: %s; not planned", a.Preconditions.CreateDate.UTC().Format(time.RFC3339), w),
			})
			continue
		}
		actions = append(actions, a)
	}
	p.Actions = actions
	p.Listed = append(append(p.Listed, moved...), notes...)
	p.Resolved = p.allResolved()
	if p.Resolved {
		t := now.UTC().Truncate(time.Second)
		p.ResolvedAt = &t
	}
	return ResolveResult{Unresolved: moved, Unplanned: notes}, p.Validate()
}

// ResolveResult is what Resolve listed instead of planning.
type ResolveResult struct {
	// Unresolved are the planned keys moved from Actions to Listed, with why.
	Unresolved []Listed
	// Unplanned are live keys the rule flags now, made in a planned second, that the report did
	// not flag: listed, not planned.
	Unplanned []Listed
}

// wouldPlan says why the plan must not act on the key a decision describes, or "" when the rule
// flags it now as the plan would plan it: fail, or review with include_review.
func (p *Plan) wouldPlan(d keycheck.Decision) string {
	switch {
	case !d.Judged:
		return d.Reason
	case d.Verdict.Status == setupkeys.StatusFail:
		return ""
	case d.Verdict.Status == setupkeys.StatusReview && p.IncludeReview:
		return ""
	case d.Verdict.Status == setupkeys.StatusReview:
		return "the rule makes it a review finding and the plan does not include review findings (include_review is false)"
	case !d.Key.LastUsed.IsZero():
		return fmt.Sprintf("the key has been used since the report (last used %s)", d.Key.LastUsed.UTC().Format(time.RFC3339))
	}
	return "the rule does not flag it now: " + d.Reason
}
