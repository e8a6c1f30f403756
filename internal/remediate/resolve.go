package remediate

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Resolve fills in the access key IDs a plan made from a report file lacks, from the live
// account: for each planned key it lists the user's keys (iam:ListAccessKeys), matches the
// creation time to the second, keeps the Active ones and confirms each never used
// (iam:GetAccessKeyLastUsed). Two keys made in the same second are both candidates, each
// verified; a key is resolved only when the candidates and the planned keys of that user and
// second pair up exactly. What stays unresolved is returned, one message per key; the plan is
// marked Resolved (with ResolvedAt = now) when nothing does. The plan ID does not change.
//
// client must reach the plan's account. A multi-account plan is made from live accounts and has
// nothing to resolve; one with unresolved keys is refused (ErrBadPlan).
func Resolve(ctx context.Context, p *Plan, client IAM, now time.Time) ([]string, error) {
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
	var problems []string
	listed := map[string][]keyInfo{}
	for _, g := range order {
		idx := groups[g]
		keys, ok := listed[g.user]
		if !ok {
			var err error
			keys, err = listKeys(ctx, client, g.user)
			if err != nil {
				return problems, err
			}
			listed[g.user] = keys
		}
		var cands []string
		var notes []string
		for _, k := range keys {
			if taken[k.id] || !k.created.UTC().Truncate(time.Second).Equal(g.created) {
				continue
			}
			if k.status != keyStatusActive {
				notes = append(notes, fmt.Sprintf("a matching key is %s", k.status))
				continue
			}
			out, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.id)})
			if err != nil {
				return problems, fmt.Errorf("iam:GetAccessKeyLastUsed for a key of %s: %w", g.user, err)
			}
			if out.AccessKeyLastUsed != nil && out.AccessKeyLastUsed.LastUsedDate != nil {
				notes = append(notes, "a matching key has been used since the report")
				continue
			}
			cands = append(cands, k.id)
		}
		sort.Strings(cands)
		switch {
		case len(cands) == len(idx):
			for n, i := range idx {
				id := cands[n]
				p.Actions[i].AccessKeyID = &id
				taken[id] = true
			}
		default:
			why := fmt.Sprintf("%d live keys match", len(cands))
			if len(cands) == 0 {
				why = "no live key matches"
			}
			for _, n := range notes {
				why += "; " + n
			}
			for _, i := range idx {
				problems = append(problems, fmt.Sprintf("user %s, key created %s (slot %d): %s; not resolved", g.user, g.created.Format(time.RFC3339), p.Actions[i].KeySlot, why))
			}
		}
	}
	p.Resolved = p.allResolved()
	if p.Resolved {
		t := now.UTC().Truncate(time.Second)
		p.ResolvedAt = &t
	}
	return problems, p.Validate()
}

type keyInfo struct {
	id      string
	status  string
	created time.Time
}

func listKeys(ctx context.Context, c IAM, user string) ([]keyInfo, error) {
	var out []keyInfo
	pages := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if isNoSuchEntity(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("iam:ListAccessKeys %s: %w", user, err)
		}
		for _, m := range page.AccessKeyMetadata {
			out = append(out, keyInfo{id: aws.ToString(m.AccessKeyId), status: string(m.Status), created: aws.ToTime(m.CreateDate)})
		}
	}
	return out, nil
}
