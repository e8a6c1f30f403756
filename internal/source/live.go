package source

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/keycheck"
	"github.com/setupkeys/setupkeys/internal/plural"
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

// LiveReport reads a live account through its credential report: one report for every user,
// then a live confirmation of each key the report flags (internal/keycheck): the report has no key
// IDs and may be hours old. The rows it hands on hold those keys as they are now (ID, status, last
// use; the user's console password), the other keys as the report shows them. API calls: O(1) for
// the report plus O(flagged keys), never O(users): per user with a flagged key one ListAccessKeys,
// one GetLoginProfile (when a key is still active) and one GetAccessKeyLastUsed per active key
// created in the second of a flagged key; so 3 calls for a user with one flagged key, at most 4
// for any user (IAM allows two keys).
//
// accountID is the caller's account (STS); when empty, the report's ARNs name it. Every row is
// filed under it. Rows come in report order, except that the rows with a key to confirm come
// after the others (each row has its report line). On error, some rows have been handed on.
func LiveReport(ctx context.Context, api ReportAPI, accountID string, opts LiveOptions, rows Rows) error {
	rep, err := fetchReport(ctx, api, opts)
	if err != nil {
		return err
	}
	rd, err := credreport.NewReader(bytes.NewReader(rep.Content), liveReportName)
	if err != nil {
		return err
	}
	src := setupkeys.Source{Kind: setupkeys.SourceLiveReport, GeneratedTime: rd.GeneratedTime()}
	if rep.GeneratedTime != nil {
		t := rep.GeneratedTime.UTC()
		src.GeneratedTime = &t
	}
	rows.Source(src)
	if g := src.GeneratedTime; g != nil {
		if age := opts.now().Sub(*g); age > staleReport {
			rows.Warn(fmt.Sprintf(
				"the credential report was generated at %s, %s ago (IAM makes a new one at most every 4 hours): users and keys created since are not in it; flagged keys were re-checked live",
				g.Format(time.RFC3339), setupkeys.FormatGap(age)))
		}
	}
	// Rows with nothing to confirm go on as they are read; the others wait for the report's end,
	// so that the reader's buffers are gone while IAM answers (memory flat in the accounts audited
	// at once), and are then confirmed, at most opts.Concurrency users at once, and handed on in
	// report order. Their report lines say where they were.
	type toCheck struct {
		user  setupkeys.User
		again bool
		wants []keycheck.Want
	}
	var later []toCheck
	named := "" // the account the report's ARNs name
	err = readRows(rd, liveReportName, func(u setupkeys.User, again bool) error {
		if named == "" && u.AccountID != "" {
			named = u.AccountID
			switch {
			case accountID == "":
				accountID = named
			case named != accountID:
				rows.Warn(fmt.Sprintf("the credential report's ARNs name account %s, but the credentials belong to %s; findings are filed under %s", named, accountID, accountID))
			}
		}
		u.AccountID = accountID
		if wants := toConfirm(u, opts.Rule); len(wants) > 0 {
			later = append(later, toCheck{user: u, again: again, wants: wants})
			return nil
		}
		return rows.User(u, again)
	}, rows.Warn)
	if err != nil {
		return err
	}
	run := startInOrder(ctx, opts.concurrency(), rows)
	for _, c := range later {
		err := run.add(c.user, c.again, func(ctx context.Context) (setupkeys.User, []string, error) {
			return confirm(ctx, api, c.user, c.wants, opts)
		})
		if err != nil {
			return run.finish(err)
		}
	}
	return run.finish(nil)
}

// liveReportName names a live account's credential report in messages.
const liveReportName = "credential report"

// toConfirm are the keys of a report row that the rule flags on the report's facts: the ones to
// confirm live. The others cannot become flagged by what a live check reads of them (a use is
// never undone).
func toConfirm(u setupkeys.User, opts rule.Options) []keycheck.Want {
	var wants []keycheck.Want
	for _, k := range u.Keys {
		if rule.Flags(u, k, opts) {
			wants = append(wants, keycheck.Want{Slot: k.Slot, Created: k.Created})
		}
	}
	return wants
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

// confirm reads the live facts of a report row's flagged keys through the key check and returns
// the row as it is now: each flagged key replaced by the live key paired with it (its ID, status
// and last use), or marked inactive when it is gone; the user without a console password when it
// lost it. Each change earns a warning.
func confirm(ctx context.Context, api keycheck.API, u setupkeys.User, wants []keycheck.Want, opts LiveOptions) (setupkeys.User, []string, error) {
	req := keycheck.Request{AccountID: u.AccountID, User: u.Name, ARN: u.ARN, UserCreated: u.Created, Line: u.Line, Keys: wants}
	req, facts, err := keycheck.Gather(ctx, api, req, keycheck.Options{Rule: opts.Rule})
	if err != nil {
		return u, nil, err
	}
	res := keycheck.Pair(req, facts, opts.Rule)
	u.Keys = slices.Clone(u.Keys)
	var warnings []string
	noPassword := false
	for i, d := range res.Keys {
		at := slices.IndexFunc(u.Keys, func(k setupkeys.AccessKey) bool { return k.Slot == d.Want.Slot })
		key := &u.Keys[at]
		created := key.Created.UTC().Format(time.RFC3339)
		if !d.Ready() && d.Cause != keycheck.CauseNoPassword && d.Cause != keycheck.CauseInactive {
			// Gone, or not confirmed: kept in the row (a twin's finding ID counts it), not judged.
			key.Active, key.Status = false, "Deleted"
		}
		switch {
		case d.Cause == keycheck.CauseUserGone:
			if i == 0 {
				warnings = append(warnings, fmt.Sprintf("user %s no longer exists (deleted since the credential report was made): %s dropped", u.Name, plural.Count(len(wants), "flagged key")))
			}
		case d.Cause == keycheck.CauseNoPassword:
			if !noPassword {
				warnings = append(warnings, fmt.Sprintf("user %s no longer has a console password (since the report): not flagged", u.Name))
			}
			noPassword = true
		case d.Cause == keycheck.CauseInactive:
			*key = d.Key
			warnings = append(warnings, fmt.Sprintf("user %s: key %s (slot %d) is %s now: finding dropped", u.Name, setupkeys.MaskKeyID(d.Key.ID), d.Key.Slot, d.Key.Status))
		case d.Cause == keycheck.CauseKeyGone:
			warnings = append(warnings, fmt.Sprintf("user %s: the key created %s (report slot %d) no longer exists: finding dropped", u.Name, created, d.Want.Slot))
		case !d.Ready():
			warnings = append(warnings, fmt.Sprintf("user %s: the key created %s (report slot %d): %s: finding dropped", u.Name, created, d.Want.Slot, d.Reason))
		default:
			*key = d.Key
			if !d.Key.LastUsed.IsZero() {
				// Flagged by the report as made at setup and never used: a use now makes it pass.
				warnings = append(warnings, fmt.Sprintf("user %s: key %s (slot %d) was used on %s, after the credential report was made: now %s",
					u.Name, setupkeys.MaskKeyID(d.Key.ID), d.Key.Slot, d.Key.LastUsed.UTC().Format(time.RFC3339), setupkeys.StatusPass))
			}
		}
	}
	if noPassword {
		u.PasswordEnabled = false
	}
	for _, d := range res.Unasked {
		warnings = append(warnings, fmt.Sprintf("user %s: key %s, created at %s, is flagged now but the credential report did not flag it (re-activated since the report?): it is not in this audit (--exact reads the API only)",
			u.Name, setupkeys.MaskKeyID(d.Key.ID), d.Key.Created.UTC().Format(time.RFC3339)))
	}
	return u, warnings, nil
}

// LiveExact reads a live account through the API alone: every user, its console password and
// its keys, fresh, with key IDs. It costs O(users) calls: ListAccessKeys for every user,
// GetLoginProfile only for users with an active key, GetAccessKeyLastUsed only for the active keys
// of console users that the rule needs it for (all of them with KeepPassing, for the evidence).
//
// A user deleted during the scan is a warning; any other error (access denied, throttling past
// the SDK's retries) stops the account, since the audit would be incomplete. On error, the rows
// before the error have been handed on.
func LiveExact(ctx context.Context, api ExactAPI, accountID string, opts LiveOptions, rows Rows) error {
	rows.Source(setupkeys.Source{Kind: setupkeys.SourceLiveAPI})
	run := startInOrder(ctx, opts.concurrency(), rows)
	p := iam.NewListUsersPaginator(api, &iam.ListUsersInput{})
	for p.HasMorePages() {
		var out *iam.ListUsersOutput
		err := run.call(func(ctx context.Context) (err error) {
			out, err = p.NextPage(ctx)
			return err
		})
		if err != nil {
			return run.finish(iamx.CallError("ListUsers", "", err))
		}
		for _, iu := range out.Users {
			if accountID == "" {
				accountID = setupkeys.AccountFromARN(aws.ToString(iu.Arn))
			}
			account := accountID
			err := run.add(setupkeys.User{}, false, func(ctx context.Context) (setupkeys.User, []string, error) {
				return exactUser(ctx, api, iu, account, opts)
			})
			if err != nil {
				return run.finish(err)
			}
		}
	}
	return run.finish(nil)
}

// exactUser reads one user's keys, password and keys' last use through the key check, asking
// about every key the user has; the check makes only the calls that can change a verdict (no
// password check without an active key, last use only of keys made at setup, of every active key
// when passes are kept). A user deleted meanwhile comes back as a user with no keys and a warning.
func exactUser(ctx context.Context, api ExactAPI, iu types.User, accountID string, opts LiveOptions) (setupkeys.User, []string, error) {
	name := aws.ToString(iu.UserName)
	// Times to the second, as the credential report has them, so both sources give the same
	// findings and gaps (AWS returns whole seconds anyway).
	u := setupkeys.User{
		AccountID: accountID,
		Name:      name,
		ARN:       aws.ToString(iu.Arn),
		Created:   aws.ToTime(iu.CreateDate).UTC().Truncate(time.Second),
	}
	req := keycheck.Request{AccountID: accountID, User: name, ARN: u.ARN, UserCreated: u.Created, AllKeys: true, EveryLastUse: opts.KeepPassing}
	_, facts, err := keycheck.Gather(ctx, api, req, keycheck.Options{Rule: opts.Rule})
	if err != nil {
		return u, nil, err
	}
	if facts.UserGone {
		return u, []string{fmt.Sprintf("user %s was deleted during the scan", name)}, nil
	}
	u.PasswordEnabled = facts.PasswordKnown && facts.Password
	var warnings []string
	for i, lk := range facts.Keys {
		k := lk.AccessKey
		k.Slot = i + 1 // ListAccessKeys' order, as the key check's AllKeys numbers them
		if lk.Gone {   // deleted between ListAccessKeys and GetAccessKeyLastUsed
			k.Active, k.Status = false, "Deleted"
			warnings = append(warnings, fmt.Sprintf("user %s: key %s (slot %d) was deleted during the scan", name, setupkeys.MaskKeyID(k.ID), k.Slot))
		}
		u.Keys = append(u.Keys, k)
	}
	return u, warnings, nil
}

// maxPending bounds the rows held at once while earlier rows are checked: the rows wait so they
// are handed on in order.
const maxPending = 1024

// inOrder checks rows, at most limit at a time, and hands every row to rows in the order it was
// added, holding at most maxPending. The first error of a check cancels the others and is
// returned by finish. Only the goroutine that started it calls add and finish, so rows hears
// from that goroutine alone.
type inOrder struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	rows   Rows
	sem    chan struct{}
	queue  []*pendingRow
	wg     sync.WaitGroup
	once   sync.Once
	first  error
}

// pendingRow is a row added and not yet handed on; done is closed once its check has run.
type pendingRow struct {
	done     chan struct{}
	user     setupkeys.User
	again    bool
	warnings []string
	err      error
}

func startInOrder(ctx context.Context, limit int, rows Rows) *inOrder {
	ctx, cancel := context.WithCancelCause(ctx)
	return &inOrder{ctx: ctx, cancel: cancel, rows: rows, sem: make(chan struct{}, limit)}
}

func (o *inOrder) fail(err error) {
	o.once.Do(func() { o.first = err; o.cancel(err) })
}

// call runs fn in one of the slots the checks share, so that it counts towards the limit.
func (o *inOrder) call(fn func(context.Context) error) error {
	if err := o.acquire(); err != nil {
		return err
	}
	defer func() { <-o.sem }()
	return fn(o.ctx)
}

// acquire takes a slot, unless the run has failed or its context ended.
func (o *inOrder) acquire() error {
	// select picks at random when a slot is free and ctx is done: check ctx first, so no new
	// work starts after the first error.
	if o.ctx.Err() != nil {
		o.fail(context.Cause(o.ctx))
		return o.first
	}
	select {
	case o.sem <- struct{}{}:
		return nil
	case <-o.ctx.Done():
		o.fail(context.Cause(o.ctx))
		return o.first
	}
}

// add queues row u; check, when not nil, makes the row (reading the live facts) in its own
// goroutine once a slot is free. It hands on the rows ready at the head of the queue.
func (o *inOrder) add(u setupkeys.User, again bool, check func(context.Context) (setupkeys.User, []string, error)) error {
	p := &pendingRow{done: make(chan struct{}), user: u, again: again}
	if check == nil {
		close(p.done)
	} else {
		if err := o.acquire(); err != nil {
			return err
		}
		o.wg.Go(func() {
			defer close(p.done)
			defer func() { <-o.sem }()
			p.user, p.warnings, p.err = check(o.ctx)
			if p.err != nil {
				o.fail(p.err)
			}
		})
	}
	o.queue = append(o.queue, p)
	return o.flush(false)
}

// flush hands on the rows at the head of the queue whose check has run, waiting for the head
// while the queue is full, or always with all.
func (o *inOrder) flush(all bool) error {
	for len(o.queue) > 0 {
		p := o.queue[0]
		if all || len(o.queue) >= maxPending {
			<-p.done
		} else {
			select {
			case <-p.done:
			default:
				return nil
			}
		}
		o.queue[0] = nil
		o.queue = o.queue[1:]
		if p.err != nil {
			o.fail(p.err)
			return o.first
		}
		for _, w := range p.warnings {
			o.rows.Warn(w)
		}
		if err := o.rows.User(p.user, p.again); err != nil {
			o.fail(err)
			return o.first
		}
	}
	return nil
}

// finish hands on every row still queued, unless err (the caller's) or a check failed, waits for
// the checks under way and returns the first error.
func (o *inOrder) finish(err error) error {
	if err == nil {
		err = o.flush(true)
	}
	if err != nil {
		o.fail(err)
	}
	o.wg.Wait()
	o.cancel(nil)
	if err != nil {
		return o.first
	}
	return nil
}

// isThrottle reports the SDK's throttling errors ("Throttling: Rate exceeded") that outlasted its
// retries.
// isThrottle reports the SDK's throttling errors ("Throttling: Rate exceeded") that outlasted its
// retries.
func isThrottle(err error) bool {
	return err != nil && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}
