package events

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/keycheck"
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

// Live judges the keys the logs found with the rule on live facts, through the key check: each
// row's user and keys are read again from IAM (the user's creation from GetUser, its console
// password, each key by ID with its last use), as audit and apply do. A key the key check does
// not judge (deleted, deactivated, no password now) is a warning saying why. accountID is the
// account api reads; rows of other accounts are judged from the logs alone, with a warning.
func Live(ctx context.Context, api keycheck.API, accountID string, rows []setupkeys.User, src setupkeys.Source, opts JudgeOptions) ([]setupkeys.AccountResult, error) {
	results := map[string]*setupkeys.AccountResult{}
	var logsOnly []setupkeys.User
	for _, row := range rows {
		if row.AccountID != accountID {
			logsOnly = append(logsOnly, row)
			continue
		}
		res := resultFor(results, row.AccountID, src)
		res.Users++
		findings, notes, err := CheckRow(ctx, api, row, src, opts.Rule, false)
		if err != nil {
			res.Err = err
			return sorted(results), err
		}
		res.Warnings = append(res.Warnings, notes...)
		for _, f := range findings {
			keep(res, f, opts.KeepPassing)
		}
	}
	for _, r := range FromLogs(logsOnly, src, opts) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("account %s is not the account of these credentials: judged from the logs alone", r.AccountID))
		res := resultFor(results, r.AccountID, src)
		*res = r
	}
	return sorted(results), nil
}

// CheckRow asks the key check about the keys of one row (by key ID and creation second) and
// returns a finding for each key the rule judged on live facts, and a note for each it did not
// judge and why (deleted, deactivated, no console password now, the user gone).
//
// createdKnown says row.Created and row.ARN were read from IAM just now. Otherwise CheckRow reads
// them (GetUser): the logs may not hold the user's creation, and a user deleted and made again
// since the logs must be judged by its own creation.
func CheckRow(ctx context.Context, api keycheck.API, row setupkeys.User, src setupkeys.Source, opts rule.Options, createdKnown bool) ([]setupkeys.Finding, []string, error) {
	if !createdKnown {
		out, err := api.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(row.Name)})
		switch {
		case iamx.IsNoSuchEntity(err):
			return nil, []string{fmt.Sprintf("user %s no longer exists", row.Name)}, nil
		case err != nil:
			return nil, nil, fmt.Errorf("user %s: %w", row.Name, iamx.CallError("GetUser", "", err))
		case out.User == nil || out.User.CreateDate == nil:
			return nil, nil, fmt.Errorf("user %s: iam GetUser: no CreateDate in the answer", row.Name)
		}
		row.ARN, row.Created = aws.ToString(out.User.Arn), out.User.CreateDate.UTC().Truncate(time.Second)
	}
	req := keycheck.Request{AccountID: row.AccountID, User: row.Name, ARN: row.ARN, UserCreated: row.Created}
	for _, k := range row.Keys {
		req.Keys = append(req.Keys, keycheck.Want{Slot: k.Slot, ID: k.ID, Created: k.Created})
	}
	res, err := keycheck.Check(ctx, api, req, keycheck.Options{Rule: opts})
	if err != nil {
		return nil, nil, err
	}
	var findings []setupkeys.Finding
	var notes []string
	for _, d := range res.Keys {
		if d.Judged {
			findings = append(findings, rule.NewFinding(res.User, d.Verdict, src))
			continue
		}
		notes = append(notes, fmt.Sprintf("user %s: key %s not judged: %s", row.Name, setupkeys.MaskKeyID(d.Want.ID), d.Reason))
	}
	return findings, notes, nil
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
