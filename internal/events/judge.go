package events

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// JudgeOptions are what judging rows needs.
type JudgeOptions struct {
	Rule rule.Options
	// KeepPassing keeps passing keys' findings (--all); otherwise they are only counted.
	KeepPassing bool
}

// FromLogs judges rows with the rule on what the logs show. The logs cannot prove a key unused,
// so a setup key with no use in them is pending (rule.Options.UseUnseen); one the logs show used
// passes. One result per account, in account order.
func FromLogs(rows []setupkeys.User, src setupkeys.Source, opts JudgeOptions) []setupkeys.AccountResult {
	results := map[string]*setupkeys.AccountResult{}
	ruleOpts := opts.Rule
	ruleOpts.UseUnseen = true
	var verdicts []rule.Verdict
	for _, u := range rows {
		res := resultFor(results, u.AccountID, src)
		res.Users++
		verdicts = rule.Judge(u, ruleOpts, verdicts)
		for _, v := range verdicts {
			keep(res, rule.NewFinding(u, v, src), opts.KeepPassing)
		}
	}
	return sorted(results)
}

// UserChecker reads one user as IAM has it now: console password, every key with its status and
// last use. ok is false when the user no longer exists.
type UserChecker interface {
	CheckUser(ctx context.Context, accountID, name string) (u setupkeys.User, ok bool, err error)
}

// Live judges the keys the logs found with the rule on live facts: each row's user is read again
// from IAM, and the verdicts on the keys of the row are kept (a key made since the logs is not
// theirs to judge). A key or user gone since is a warning. accountID is the account the checker
// reads; rows of other accounts are judged from the logs alone, with a warning.
func Live(ctx context.Context, check UserChecker, accountID string, rows []setupkeys.User, src setupkeys.Source, opts JudgeOptions) ([]setupkeys.AccountResult, error) {
	results := map[string]*setupkeys.AccountResult{}
	var logsOnly []setupkeys.User
	var verdicts []rule.Verdict
	for _, row := range rows {
		if row.AccountID != accountID {
			logsOnly = append(logsOnly, row)
			continue
		}
		res := resultFor(results, row.AccountID, src)
		res.Users++
		live, ok, err := check.CheckUser(ctx, row.AccountID, row.Name)
		if err != nil {
			res.Err = fmt.Errorf("user %s: %w", row.Name, err)
			return sorted(results), res.Err
		}
		if !ok {
			res.Warnings = append(res.Warnings, fmt.Sprintf("user %s was deleted since the logs", row.Name))
			continue
		}
		verdicts = rule.Judge(live, opts.Rule, verdicts)
		for _, k := range row.Keys {
			i := slices.IndexFunc(verdicts, func(v rule.Verdict) bool { return v.Key.ID == k.ID })
			if i < 0 {
				if !slices.ContainsFunc(live.Keys, func(l setupkeys.AccessKey) bool { return l.ID == k.ID }) {
					res.Warnings = append(res.Warnings, fmt.Sprintf("user %s: key %s was deleted since the logs", row.Name, setupkeys.MaskKeyID(k.ID)))
				}
				continue // inactive now, or the user has no console password: the rule skips it
			}
			keep(res, rule.NewFinding(live, verdicts[i], src), opts.KeepPassing)
		}
	}
	for _, r := range FromLogs(logsOnly, src, opts) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("account %s is not the account of these credentials: judged from the logs alone", r.AccountID))
		res := resultFor(results, r.AccountID, src)
		*res = r
	}
	return sorted(results), nil
}

func resultFor(results map[string]*setupkeys.AccountResult, account string, src setupkeys.Source) *setupkeys.AccountResult {
	res := results[account]
	if res == nil {
		res = &setupkeys.AccountResult{AccountID: account, Source: src}
		results[account] = res
	}
	return res
}

func keep(res *setupkeys.AccountResult, f setupkeys.Finding, keepPassing bool) {
	if f.Status == setupkeys.StatusPass {
		res.Passed++
		if !keepPassing {
			return
		}
	}
	res.Findings = append(res.Findings, f)
}

func sorted(results map[string]*setupkeys.AccountResult) []setupkeys.AccountResult {
	out := make([]setupkeys.AccountResult, 0, len(results))
	for _, r := range results {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out
}
