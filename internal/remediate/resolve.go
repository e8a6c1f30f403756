package remediate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys/internal/iamx"
)

// Resolve fills in the access key IDs a plan made from a report file lacks, from the live
// account: for each planned key it lists the user's keys (iam:ListAccessKeys), matches the
// creation time to the second, keeps the Active ones and confirms each never used
// (iam:GetAccessKeyLastUsed).
//
// Planned keys of one user created in the same second form a group; the live candidates of the
// group (Active, never used, created in that second) are paired with its planned keys. Every
// candidate of such a group is a planned key, so which slot gets which ID does not change what
// apply does. When there are fewer candidates than planned keys, the rest are not resolved; when
// there are more (a key made in the same second that the report did not plan, now Active and
// never used), nothing tells which the report meant and none of the group is resolved.
//
// A planned key that cannot be resolved (used since the report, Inactive, deleted, its user
// deleted, ambiguous) is moved from Actions to Listed with why; those are returned, in plan
// order. What remains is resolved: the plan is marked Resolved with ResolvedAt = now. The plan ID
// does not change. An AWS error stops Resolve and leaves the plan as it was.
//
// client must reach the plan's account. A multi-account plan is made from live accounts and has
// nothing to resolve; one with unresolved keys is refused (ErrBadPlan).
func Resolve(ctx context.Context, p *Plan, client IAM, now time.Time) ([]Listed, error) {
	if p.MultiAccount() && !p.allResolved() {
		return nil, fmt.Errorf("%w: a multi-account plan with unresolved keys: multi-account plans are made live, make it again", ErrBadPlan)
	}
	type group struct {
		user    string
		created time.Time
	}
	groups := map[group][]int{}
	var order []group
	taken := map[string]bool{}
	for i, a := range p.Actions {
		if id := a.KeyID(); id != "" {
			taken[id] = true
			continue
		}
		g := group{a.User, a.Preconditions.CreateDate.UTC().Truncate(time.Second)}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	resolved := map[int]string{}
	why := map[int]string{}
	type userKeys struct {
		keys []keyInfo
		gone bool
	}
	live := map[string]userKeys{}
	for _, g := range order {
		idx := groups[g]
		uk, ok := live[g.user]
		if !ok {
			keys, gone, err := listKeys(ctx, client, g.user)
			if err != nil {
				return nil, err
			}
			uk = userKeys{keys, gone}
			live[g.user] = uk
		}
		var cands, notes []string
		for _, k := range uk.keys {
			if taken[k.id] || !k.created.UTC().Truncate(time.Second).Equal(g.created) {
				continue
			}
			if k.status != keyStatusActive {
				notes = append(notes, fmt.Sprintf("the key created then is %s", k.status))
				continue
			}
			out, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.id)})
			if err != nil {
				if iamx.IsNoSuchEntity(err) {
					notes = append(notes, "the key created then was deleted while it was checked")
					continue
				}
				return nil, fmt.Errorf("iam:GetAccessKeyLastUsed for a key of %s: %w", g.user, err)
			}
			if lu := out.AccessKeyLastUsed; lu != nil && lu.LastUsedDate != nil {
				notes = append(notes, fmt.Sprintf("the key created then has been used since the report (last used %s)", lu.LastUsedDate.UTC().Format(time.RFC3339)))
				continue
			}
			cands = append(cands, k.id)
		}
		sort.Strings(cands)
		if len(cands) > len(idx) {
			for _, i := range idx {
				why[i] = fmt.Sprintf("ambiguous: %d Active, never-used keys of the user were created in that second and nothing tells which one the report means", len(cands))
			}
			continue
		}
		for n, i := range idx {
			if n < len(cands) {
				resolved[i] = cands[n]
				continue
			}
			switch {
			case uk.gone:
				why[i] = "the user no longer exists"
			case len(notes) > 0:
				why[i] = strings.Join(notes, "; ")
			default:
				why[i] = "no key of the user created in that second exists now (deleted since the report)"
			}
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
	p.Listed = append(p.Listed, moved...)
	p.Resolved = p.allResolved()
	if p.Resolved {
		t := now.UTC().Truncate(time.Second)
		p.ResolvedAt = &t
	}
	return moved, p.Validate()
}

type keyInfo struct {
	id      string
	status  string
	created time.Time
}

// listKeys lists a user's keys; gone is true when the user does not exist.
func listKeys(ctx context.Context, c IAM, user string) (keys []keyInfo, gone bool, err error) {
	listed, err := iamx.ListAccessKeys(ctx, c, user, nil)
	if err != nil {
		if iamx.IsNoSuchEntity(err) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("iam:ListAccessKeys %s: %w", user, err)
	}
	for _, m := range listed {
		keys = append(keys, keyInfo{id: aws.ToString(m.AccessKeyId), status: string(m.Status), created: aws.ToTime(m.CreateDate)})
	}
	return keys, false, nil
}
