package source

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/keycheck"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// ReportAPI is what LiveReport calls: the credential report, then, for each user it flags, the
// key check (internal/keycheck).
type ReportAPI interface {
	GenerateCredentialReport(ctx context.Context, params *iam.GenerateCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(ctx context.Context, params *iam.GetCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
	keycheck.API
}

// ExactAPI is what LiveExact calls: every user, then the key check of each (internal/keycheck).
type ExactAPI interface {
	ListUsers(ctx context.Context, params *iam.ListUsersInput, optFns ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	keycheck.API
}

var (
	_ ReportAPI = (*iam.Client)(nil)
	_ ExactAPI  = (*iam.Client)(nil)
)

// Defaults of LiveOptions.
const (
	DefaultConcurrency     = 8
	DefaultReportTimeout   = 5 * time.Minute
	DefaultPollInterval    = time.Second
	DefaultMaxPollInterval = 16 * time.Second
)

// staleReport is the age past which a live report earns a warning. IAM hands back the last
// report for up to 4 hours instead of making a new one.
const staleReport = time.Hour

// LiveOptions tune the live sources. The zero value works: every field has a default.
type LiveOptions struct {
	Options
	// Concurrency bounds the users worked on at once (default DefaultConcurrency). IAM throttles
	// per account; the SDK's retryer absorbs what this lets through.
	Concurrency int
	// ReportTimeout bounds the wait for the credential report, retries included.
	ReportTimeout time.Duration
	// PollInterval is the first wait between two polls of the report; each wait doubles, up to
	// MaxPollInterval.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Now and Sleep are the clock; tests inject fakes. Sleep must return ctx's error when ctx
	// ends first.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o LiveOptions) concurrency() int {
	if o.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return o.Concurrency
}

func (o LiveOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o LiveOptions) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep != nil {
		return o.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// LiveReport audits a live account through its credential report: one report for every user,
// then a live check of each user and key the report flags (fail or review): the report has no key
// IDs and may be hours old. API calls: O(1) for the report plus O(findings), never O(users): per
// flagged user one ListAccessKeys, one GetLoginProfile (when a key still needs judging) and one
// GetAccessKeyLastUsed per active key created in the second of a flagged key; so 3 calls for a
// user with one flagged key, at most 4 for any user (IAM allows two keys).
//
// accountID is the caller's account (STS); when empty, the report's ARNs name it. On error the
// result holds what was found before the error, and its Err is the same error.
func LiveReport(ctx context.Context, api ReportAPI, accountID string, opts LiveOptions) (setupkeys.AccountResult, error) {
	fail := func(res setupkeys.AccountResult, err error) (setupkeys.AccountResult, error) {
		res.Err = err
		return res, err
	}
	empty := setupkeys.AccountResult{AccountID: accountID, Source: setupkeys.Source{Kind: setupkeys.SourceLiveReport}}
	rep, err := fetchReport(ctx, api, opts)
	if err != nil {
		return fail(empty, err)
	}
	res, err := FromReport(bytes.NewReader(rep.Content), "credential report", setupkeys.SourceLiveReport, opts.Options)
	if err != nil {
		return fail(empty, err)
	}
	if rep.GeneratedTime != nil {
		t := rep.GeneratedTime.UTC()
		res.Source.GeneratedTime = &t
		if age := opts.now().Sub(t); age > staleReport {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"the credential report was generated at %s, %s ago (IAM makes a new one at most every 4 hours): users and keys created since are not in it; flagged keys were re-checked live",
				t.Format(time.RFC3339), setupkeys.FormatGap(age)))
		}
	}
	switch {
	case accountID == "":
		accountID = res.AccountID
	case res.AccountID != "" && res.AccountID != accountID:
		res.Warnings = append(res.Warnings, fmt.Sprintf("the credential report's ARNs name account %s, but the credentials belong to %s; findings are filed under %s", res.AccountID, accountID, accountID))
	}
	res.AccountID = accountID
	for i := range res.Findings {
		f := &res.Findings[i]
		f.Source = res.Source
		if f.AccountID != accountID {
			f.SetAccount(accountID)
		}
	}
	if err := resolveFlagged(ctx, api, &res, opts); err != nil {
		return fail(res, err)
	}
	return res, nil
}

// fetchReport generates the credential report and reads it, waiting with exponential backoff
// until it is ready, within opts.ReportTimeout.
func fetchReport(ctx context.Context, api ReportAPI, opts LiveOptions) (*iam.GetCredentialReportOutput, error) {
	timeout := durationOr(opts.ReportTimeout, DefaultReportTimeout)
	deadline := opts.now().Add(timeout)
	delay := durationOr(opts.PollInterval, DefaultPollInterval)
	maxDelay := durationOr(opts.MaxPollInterval, DefaultMaxPollInterval)
	generate := true
	var waitingFor string // what the last wait was for, for the timeout message
	for {
		if generate {
			out, err := api.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
			switch code := iamx.ErrorCode(err); {
			case err == nil && out.State == types.ReportStateTypeComplete:
				generate = false
			case err == nil:
				waitingFor = fmt.Sprintf("report generation %s", out.State)
			case code == "LimitExceeded" || code == "ReportGenerationLimitExceeded":
				waitingFor = "GenerateCredentialReport: " + code
			case isThrottle(err):
				waitingFor = "GenerateCredentialReport throttled"
			default:
				return nil, iamx.CallError("GenerateCredentialReport", "", err)
			}
		}
		if !generate {
			out, err := api.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
			switch code := iamx.ErrorCode(err); {
			case err == nil:
				return out, nil
			case code == "ReportInProgress":
				waitingFor = "GetCredentialReport: ReportInProgress"
			case code == "ReportNotPresent" || code == "ReportExpired":
				// Gone between Generate and Get (or expired): make a new one.
				generate = true
				waitingFor = "GetCredentialReport: " + code
			case isThrottle(err):
				waitingFor = "GetCredentialReport throttled"
			default:
				return nil, iamx.CallError("GetCredentialReport", "", err)
			}
		}
		left := deadline.Sub(opts.now())
		if left <= 0 {
			return nil, fmt.Errorf("the credential report was not ready within %s (last: %s)", timeout, waitingFor)
		}
		if err := opts.sleep(ctx, min(delay, left)); err != nil {
			return nil, fmt.Errorf("waiting for the credential report (%s): %w", waitingFor, err)
		}
		delay = min(delay*2, maxDelay)
	}
}

// resolveFlagged checks each fail or review finding of a report against the live account through
// the key check (internal/keycheck): the user still has a console password, the key's ID, the key
// still active, its last use. Findings whose user lost the password or whose key is gone or
// inactive are dropped, keys used since the report pass; each change earns a warning.
func resolveFlagged(ctx context.Context, api keycheck.API, res *setupkeys.AccountResult, opts LiveOptions) error {
	// Group the flagged findings by user, in report order: one check per user. (A repeated
	// report row adds no finding: FromReport judges each key once.)
	var users [][]int // indexes into res.Findings, per user
	byUser := map[string]int{}
	for i, f := range res.Findings {
		if f.Status != setupkeys.StatusFail && f.Status != setupkeys.StatusReview {
			continue
		}
		u, ok := byUser[f.ARN]
		if !ok {
			u = len(users)
			byUser[f.ARN] = u
			users = append(users, nil)
		}
		users[u] = append(users[u], i)
	}
	if len(users) == 0 {
		return nil
	}
	type outcome struct {
		findings []*setupkeys.Finding // parallel to the user's indexes; nil drops the finding
		warnings []string
	}
	outcomes := make([]outcome, len(users))
	err := forEach(ctx, len(users), opts.concurrency(), func(ctx context.Context, i int) error {
		flagged := make([]setupkeys.Finding, len(users[i]))
		for j, fi := range users[i] {
			flagged[j] = res.Findings[fi]
		}
		fs, warns, err := recheck(ctx, api, flagged, opts)
		outcomes[i] = outcome{findings: fs, warnings: warns}
		return err
	})
	if err != nil {
		return err
	}
	replaced := make(map[int]*setupkeys.Finding, len(res.Findings))
	for i, index := range users {
		for j, fi := range index {
			replaced[fi] = outcomes[i].findings[j]
		}
		res.Warnings = append(res.Warnings, outcomes[i].warnings...)
	}
	kept := res.Findings[:0]
	for i, f := range res.Findings {
		nf, flagged := replaced[i]
		switch {
		case !flagged:
			kept = append(kept, f)
		case nf == nil:
		case nf.Status == setupkeys.StatusPass:
			res.Passed++
			if opts.KeepPassing {
				kept = append(kept, *nf)
			}
		default:
			kept = append(kept, *nf)
		}
	}
	clear(res.Findings[len(kept):])
	res.Findings = kept
	return nil
}

// recheck runs the key check on one user's flagged findings and turns its decisions into the new
// finding for each (nil to drop it) and the warnings.
func recheck(ctx context.Context, api keycheck.API, flagged []setupkeys.Finding, opts LiveOptions) ([]*setupkeys.Finding, []string, error) {
	first := flagged[0]
	req := keycheck.Request{AccountID: first.AccountID, User: first.User, ARN: first.ARN, UserCreated: first.UserCreated, Line: first.ReportLine}
	for _, f := range flagged {
		req.Keys = append(req.Keys, keycheck.Want{Slot: f.KeySlot, Created: f.KeyCreated})
	}
	res, err := keycheck.Check(ctx, api, req, keycheck.Options{Rule: opts.Rule})
	if err != nil {
		return nil, nil, err
	}
	user := first.User
	out := make([]*setupkeys.Finding, len(flagged))
	var warnings []string
	noPassword := false
	for i, d := range res.Keys {
		f := flagged[i]
		created := f.KeyCreated.UTC().Format(time.RFC3339)
		switch {
		case d.Cause == keycheck.CauseUserGone:
			if i == 0 {
				warnings = append(warnings, fmt.Sprintf("user %s no longer exists (deleted since the credential report was made): %d flagged key(s) dropped", user, len(flagged)))
			}
		case d.Cause == keycheck.CauseNoPassword:
			if !noPassword {
				warnings = append(warnings, fmt.Sprintf("user %s no longer has a console password (since the report): not flagged", user))
			}
			noPassword = true
		case d.Cause == keycheck.CauseInactive:
			warnings = append(warnings, fmt.Sprintf("user %s: key %s (slot %d) is %s now: finding dropped", user, setupkeys.MaskKeyID(d.Key.ID), f.KeySlot, d.Key.Status))
		case d.Cause == keycheck.CauseKeyGone:
			warnings = append(warnings, fmt.Sprintf("user %s: the key created %s (report slot %d) no longer exists: finding dropped", user, created, f.KeySlot))
		case !d.Judged:
			warnings = append(warnings, fmt.Sprintf("user %s: the key created %s (report slot %d): %s: finding dropped", user, created, f.KeySlot, d.Reason))
		default:
			nf := rule.NewFinding(res.User, d.Verdict, f.Source)
			nf.ID = f.ID
			if nf.Status == setupkeys.StatusPass {
				nf.Reason += ", after the credential report was made"
				warnings = append(warnings, fmt.Sprintf("user %s: key %s (slot %d) was used on %s, after the credential report was made: now %s",
					user, setupkeys.MaskKeyID(d.Key.ID), f.KeySlot, d.Key.LastUsed.UTC().Format(time.RFC3339), nf.Status))
			}
			out[i] = &nf
		}
	}
	for _, d := range res.Unasked {
		warnings = append(warnings, fmt.Sprintf("user %s: key %s, created at %s, is flagged now but the credential report did not flag it (re-activated since the report?): it is not in this audit (--exact reads the API only)",
			user, setupkeys.MaskKeyID(d.Key.ID), d.Key.Created.UTC().Format(time.RFC3339)))
	}
	return out, warnings, nil
}

// LiveExact audits a live account through the API alone: every user, its console password and
// its keys, fresh, with key IDs. It costs O(users) calls: ListAccessKeys for every user,
// GetLoginProfile only for users with an active key, GetAccessKeyLastUsed only for the active keys
// of console users that the rule needs it for (all of them with KeepPassing, for the evidence).
//
// A user deleted during the scan is a warning; any other error (access denied, throttling past
// the SDK's retries) fails the account, since the audit would be incomplete. On error the result
// holds the users finished before it, and its Err is the same error.
func LiveExact(ctx context.Context, api ExactAPI, accountID string, opts LiveOptions) (setupkeys.AccountResult, error) {
	src := setupkeys.Source{Kind: setupkeys.SourceLiveAPI}
	res := setupkeys.AccountResult{AccountID: accountID, Source: src}
	var users []types.User
	p := iam.NewListUsersPaginator(api, &iam.ListUsersInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			res.Err = iamx.CallError("ListUsers", "", err)
			return res, res.Err
		}
		users = append(users, out.Users...)
	}
	if res.AccountID == "" && len(users) > 0 {
		res.AccountID = setupkeys.AccountFromARN(aws.ToString(users[0].Arn))
	}
	type outcome struct {
		done    bool
		user    setupkeys.User
		warning string
	}
	outcomes := make([]outcome, len(users))
	err := forEach(ctx, len(users), opts.concurrency(), func(ctx context.Context, i int) error {
		u, warning, err := exactUser(ctx, api, users[i], res.AccountID, opts)
		if err != nil {
			return err
		}
		outcomes[i] = outcome{done: true, user: u, warning: warning}
		return nil
	})
	var verdicts []rule.Verdict
	for _, o := range outcomes {
		if !o.done {
			continue
		}
		res.Users++
		if o.warning != "" {
			res.Warnings = append(res.Warnings, o.warning)
		}
		verdicts = opts.keep(&res, o.user, src, verdicts)
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.User != b.User {
			return a.User < b.User
		}
		return a.KeySlot < b.KeySlot
	})
	if err != nil {
		res.Err = err
		return res, err
	}
	return res, nil
}

// exactUser reads one user's keys, password and keys' last use through the key check, asking
// about every key the user has; the check makes only the calls that can change a verdict (no
// password check without an active key, last use only of keys made at setup, of every active key
// when passes are kept). A user deleted meanwhile comes back as a user with no keys and a warning.
func exactUser(ctx context.Context, api ExactAPI, iu types.User, accountID string, opts LiveOptions) (setupkeys.User, string, error) {
	name := aws.ToString(iu.UserName)
	acct := accountID
	if acct == "" {
		acct = setupkeys.AccountFromARN(aws.ToString(iu.Arn))
	}
	// Times to the second, as the credential report has them, so both sources give the same
	// findings and gaps (AWS returns whole seconds anyway).
	u := setupkeys.User{
		AccountID: acct,
		Name:      name,
		ARN:       aws.ToString(iu.Arn),
		Created:   aws.ToTime(iu.CreateDate).UTC().Truncate(time.Second),
	}
	req := keycheck.Request{AccountID: acct, User: name, ARN: u.ARN, UserCreated: u.Created, AllKeys: true, EveryLastUse: opts.KeepPassing}
	res, err := keycheck.Check(ctx, api, req, keycheck.Options{Rule: opts.Rule})
	if err != nil {
		return u, "", err
	}
	if res.UserGone {
		return u, fmt.Sprintf("user %s was deleted during the scan", name), nil
	}
	u.PasswordEnabled = res.User.PasswordEnabled
	var warning string
	for _, d := range res.Keys {
		k := d.Key
		if d.Cause == keycheck.CauseKeyGone { // deleted between ListAccessKeys and GetAccessKeyLastUsed
			k.Active, k.Status = false, "Deleted"
			warning = fmt.Sprintf("user %s: key %s (slot %d) was deleted during the scan", name, setupkeys.MaskKeyID(k.ID), k.Slot)
		}
		u.Keys = append(u.Keys, k)
	}
	return u, warning, nil
}

// forEach runs fn for 0..n-1, at most limit at a time. The first error cancels the rest and is
// returned.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
loop:
	for i := 0; i < n; i++ {
		// select picks at random when a slot is free and ctx is done: check ctx first, so no new
		// work starts after the first error.
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

// errorCode is the API error code of err ("" when err is not an API error).
// isThrottle reports the SDK's throttling errors ("Throttling: Rate exceeded") that outlasted its
// retries.
func isThrottle(err error) bool {
	return err != nil && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}
