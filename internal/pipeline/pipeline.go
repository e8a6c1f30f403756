// Package pipeline is the audit, in one place: select the accounts, read each one's source (a
// report file, a live account's credential report with the key check of its flagged keys, or the
// API with --exact) as a stream of user rows, judge every key of every row with the rule, once,
// apply the suppressions, and keep the findings. The CLI and internal/tools/orgbench both run it.
// It takes a plain Config that the caller fills from its flags, and reaches AWS only through the
// Clients it is handed, so that tests and benchmarks can give it any client.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/source"
	"github.com/setupkeys/setupkeys/internal/suppress"
)

// Config is one audit.
type Config struct {
	// Report, when set, is a credential report to audit instead of live accounts; ReportName
	// names it in messages and in the findings' source ("stdin", or the file's path).
	Report     io.Reader
	ReportName string
	// Exact reads each live account through the API, user by user, instead of its credential
	// report.
	Exact bool
	// Rule are the rule's options (the window).
	Rule rule.Options
	// KeepPassing keeps passing keys' findings (--all); otherwise they are only counted.
	KeepPassing bool
	// Suppressions, when set, mark the findings they cover.
	Suppressions *suppress.Set
	// Live tunes each live account's source (calls at once, report polling); its Options are
	// set from Rule and KeepPassing.
	Live source.LiveOptions
	// Accounts, when set, audits several accounts instead of the caller's alone.
	Accounts *Accounts
	// Now is the clock: the audit's start and suppression expiry. Default time.Now.
	Now func() time.Time
}

// Accounts choose the accounts of a multi-account audit and how they run.
type Accounts struct {
	// Organization lists the organization's accounts (--org); with only Selection.Accounts
	// and no Organization, the accounts are used as given, with no Organizations call.
	Organization bool
	Selection    org.Selection
	// Concurrency and PerAccountTimeout bound the run (0: org's defaults).
	Concurrency       int
	PerAccountTimeout time.Duration
	// Progress hears of every account's result; nil means none.
	Progress org.Progress
}

// needsOrganizations reports whether selecting the accounts lists the organization.
func (a Accounts) needsOrganizations() bool {
	return a.Organization || len(a.Selection.OUs) > 0 || len(a.Selection.Accounts) == 0
}

// IAM is what auditing one live account calls; *iam.Client has it.
type IAM interface {
	source.ReportAPI
	source.ExactAPI
	iam.ListUserTagsAPIClient
}

var _ IAM = (*iam.Client)(nil)

// Clients are how a live audit reaches AWS; SDK makes them from an aws.Config.
type Clients struct {
	// CallerAccount is the account of the credentials (sts:GetCallerIdentity).
	CallerAccount string
	// IAM returns the IAM client of account: the caller's own credentials for the caller's
	// account, an assumed role for the others.
	IAM func(account string) (IAM, error)
	// Organizations returns the client that lists the organization's accounts; called only
	// for a multi-account audit that needs the listing.
	Organizations func() org.OrganizationsAPI
}

// Run runs the audit. With Config.Report it reads the file and calls no AWS; otherwise it
// audits the caller's account, or with Config.Accounts every selected account, each one's
// failure recorded in its result without stopping the others. The audit is returned even with
// an error, holding what was found.
func Run(ctx context.Context, cfg Config, clients Clients) (setupkeys.Audit, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	audit := setupkeys.Audit{StartedAt: now(), Window: cfg.Rule.Window}
	if audit.Window == 0 {
		audit.Window = rule.DefaultWindow
	}
	if cfg.Report != nil {
		rows := newAccountRows(cfg.Rule, cfg.KeepPassing)
		if err := source.ReportFile(cfg.Report, cfg.ReportName, audit.StartedAt, rows); err != nil {
			return audit, err
		}
		res := rows.result()
		// A report file has no tags to read: tag suppressions cannot match, and say so.
		applySuppressions(ctx, cfg.Suppressions, &res, nil, audit.StartedAt)
		audit.Accounts = []setupkeys.AccountResult{res}
		return audit, nil
	}
	if clients.IAM == nil {
		return audit, errors.New("a live audit needs AWS clients")
	}
	audit.CallerAccount = clients.CallerAccount
	live := cfg.Live
	live.Options = source.Options{Rule: cfg.Rule, KeepPassing: cfg.KeepPassing}
	auditOne := func(ctx context.Context, account string) (setupkeys.AccountResult, error) {
		client, err := clients.IAM(account)
		if err != nil {
			return setupkeys.AccountResult{}, err
		}
		return auditAccount(ctx, client, account, cfg.Exact, live, cfg.Suppressions, audit.StartedAt)
	}
	if cfg.Accounts == nil {
		res, err := auditOne(ctx, clients.CallerAccount)
		if err != nil {
			return audit, err
		}
		audit.Accounts = []setupkeys.AccountResult{res}
		return audit, nil
	}
	var err error
	audit.Accounts, audit.Skipped, err = auditAccounts(ctx, *cfg.Accounts, clients, auditOne)
	return audit, err
}

// Account audits one live account through client, as Run audits each account of a live audit:
// the source cfg chooses (the credential report, or the API with Exact), the rule, the
// suppressions. For callers that choose and reach the accounts themselves.
func Account(ctx context.Context, client IAM, account string, cfg Config) (setupkeys.AccountResult, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	live := cfg.Live
	live.Options = source.Options{Rule: cfg.Rule, KeepPassing: cfg.KeepPassing}
	return auditAccount(ctx, client, account, cfg.Exact, live, cfg.Suppressions, now())
}

// auditAccounts selects the accounts and audits each one. It returns the results and the
// accounts the selection skipped, with why.
func auditAccounts(ctx context.Context, a Accounts, clients Clients, auditOne func(context.Context, string) (setupkeys.AccountResult, error)) ([]setupkeys.AccountResult, []setupkeys.SkippedAccount, error) {
	var orgAPI org.OrganizationsAPI
	if a.needsOrganizations() && clients.Organizations != nil {
		orgAPI = clients.Organizations()
	}
	chosen, err := org.Choose(ctx, orgAPI, a.Selection)
	if err != nil {
		return nil, chosen.Skipped, fmt.Errorf("selecting accounts: %w", err)
	}
	run := org.RunOptions{Concurrency: a.Concurrency, PerAccountTimeout: a.PerAccountTimeout, Progress: a.Progress}
	results, err := org.Collect(ctx, chosen.Accounts, run, func(ctx context.Context, acct org.Account) (setupkeys.AccountResult, error) {
		return auditOne(ctx, acct.ID)
	})
	return results, chosen.Skipped, err
}

// auditAccount audits one live account through the credential report, or the API with exact,
// then applies the suppressions with that account's user tags.
func auditAccount(ctx context.Context, client IAM, account string, exact bool, live source.LiveOptions, supp *suppress.Set, now time.Time) (setupkeys.AccountResult, error) {
	rows := newAccountRows(live.Rule, live.KeepPassing)
	rows.res.AccountID = account
	var err error
	if exact {
		rows.res.Source.Kind = setupkeys.SourceLiveAPI
		err = source.LiveExact(ctx, client, account, live, rows)
	} else {
		rows.res.Source.Kind = setupkeys.SourceLiveReport
		err = source.LiveReport(ctx, client, account, live, rows)
	}
	res := rows.result()
	if exact {
		// The API lists users in its own order; findings come by user, then slot.
		slices.SortStableFunc(res.Findings, func(a, b setupkeys.Finding) int {
			return cmp.Or(strings.Compare(a.User, b.User), cmp.Compare(a.KeySlot, b.KeySlot))
		})
	} else {
		// The rows confirmed live come after the others: findings come in report order.
		slices.SortStableFunc(res.Findings, func(a, b setupkeys.Finding) int { return cmp.Compare(a.ReportLine, b.ReportLine) })
	}
	if err != nil {
		res.Err = err
		return res, err
	}
	applySuppressions(ctx, supp, &res, suppress.IAMTags{Client: client}, now)
	return res, nil
}

// judge is the rule, the one call that judges keys in an audit; a variable so that a test can
// count the keys it judges (seam_test.go).
var judge = rule.Judge

// accountRows judges the rows of one account's source as they come, each key once, into the
// account's result: findings for flagged keys, passing keys counted (and kept with keepPassing).
type accountRows struct {
	rule        rule.Options
	keepPassing bool
	res         setupkeys.AccountResult
	verdicts    []rule.Verdict // scratch, reused across users
}

var _ source.Rows = (*accountRows)(nil)

func newAccountRows(opts rule.Options, keepPassing bool) *accountRows {
	return &accountRows{rule: opts, keepPassing: keepPassing}
}

func (a *accountRows) Source(src setupkeys.Source) { a.res.Source = src }

func (a *accountRows) Warn(w string) { a.res.Warnings = append(a.res.Warnings, w) }

func (a *accountRows) User(u setupkeys.User, again bool) error {
	if !again {
		a.res.Users++
	}
	if a.res.AccountID == "" {
		a.res.AccountID = u.AccountID
	}
	a.verdicts = judge(u, a.rule, a.verdicts)
	for _, v := range a.verdicts {
		if v.Status == setupkeys.StatusPass {
			a.res.Passed++
			if !a.keepPassing {
				continue
			}
		}
		a.res.Findings = append(a.res.Findings, rule.NewFinding(u, v, a.res.Source))
	}
	return nil
}

func (a *accountRows) result() setupkeys.AccountResult { return a.res }

// applySuppressions marks the findings a suppression covers and reports expired suppressions
// that would have covered some, naming those findings, as warnings of the account. tags is nil
// for a report file, which has none: its tag rules then cover nothing, said in one warning.
func applySuppressions(ctx context.Context, supp *suppress.Set, res *setupkeys.AccountResult, tags suppress.TagLookup, now time.Time) {
	if supp == nil {
		return
	}
	out := supp.Apply(ctx, res.Findings, tags, now)
	res.Findings = out.Findings
	res.Warnings = append(res.Warnings, out.Warnings...)
	for _, e := range out.Expired {
		res.Warnings = append(res.Warnings, e.Warning())
	}
}
