// Package securityhub puts an audit's ASFF findings into AWS Security Hub and keeps them true on
// later runs: a finding of this tool whose key is fixed or gone is re-imported as PASSED and
// ARCHIVED, so Security Hub shows it resolved. Findings of other products are never touched.
// It calls AWS and reports what happened; printing is the CLI's.
package securityhub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"golang.org/x/time/rate"

	"github.com/setupkeys/setupkeys/internal/awscall"
	"github.com/setupkeys/setupkeys/internal/report"
)

// BatchImportFindings' limits (Security Hub quotas, which cannot be raised).
const (
	// MaxBatchFindings is how many findings one BatchImportFindings call takes.
	MaxBatchFindings = 100
	// MaxBatchBytes is how large one call's request may be (6 MB).
	MaxBatchBytes = 6 * 1000 * 1000
	// MaxFindingBytes is how large one finding may be (240 KB).
	MaxFindingBytes = 240 * 1000
	// ImportsPerSecond is BatchImportFindings' rate in an account and region (burst 30: the
	// limiter's burst of ImportsPerSecond stays under it).
	ImportsPerSecond = 10
	// GetFindingsPerSecond is GetFindings' rate (3 a second, burst 6).
	GetFindingsPerSecond = 3
)

// Actions are the IAM actions an import needs in each account it writes to; policies/
// securityhub-policy.json grants exactly these (a test holds it to them).
var Actions = []string{"securityhub:BatchImportFindings", "securityhub:GetFindings"}

// CallTimeout bounds one call, the rate limiter's wait and the SDK's retries included.
const CallTimeout = 5 * time.Minute

// API is the part of Security Hub this package calls; *securityhub.Client has it.
type API interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
	GetFindings(ctx context.Context, in *securityhub.GetFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error)
}

var _ API = (*securityhub.Client)(nil)

// Account is what to import into one account's Security Hub. BatchImportFindings takes findings
// only for the caller's own account, so each account is reached with its own credentials.
type Account struct {
	ID string
	// ProductARN is the account's product (report.ASFFProductARN) in the Security Hub region.
	ProductARN string
	// Findings are the account's fail and review findings of this run, all with ProductARN.
	Findings []report.ASFFFinding
	// Complete says the account was audited to the end. Only then does a stored finding that the
	// run did not report mean its key is fixed or gone; an account that failed midway archives
	// nothing.
	Complete bool
}

// Result is what happened in one account.
type Result struct {
	AccountID string
	// Imported counts the run's findings that Security Hub accepted; Archived the resolved
	// findings it accepted as archived.
	Imported int
	Archived int
	// Failed lists every finding Security Hub refused (FailedFindings) or that was too large to
	// send.
	Failed []Failure
	// Err is set when a call failed as a whole (Security Hub not enabled, access denied): the
	// account's remaining findings were not sent.
	Err error
}

// OK reports whether everything reached Security Hub.
func (r Result) OK() bool { return r.Err == nil && len(r.Failed) == 0 }

// Failure is one finding that was not imported, with Security Hub's reason.
type Failure struct {
	ID      string
	Code    string
	Message string
}

// Sync imports the accounts' findings, up to concurrency accounts at a time, each through the
// client that clientFor makes for it. now is the time of the archiving updates.
func Sync(ctx context.Context, accounts []Account, clientFor func(accountID string) (API, error), concurrency int, now time.Time) []Result {
	if concurrency < 1 {
		concurrency = 1
	}
	results := make([]Result, len(accounts))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, acct := range accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			client, err := clientFor(acct.ID)
			if err != nil {
				results[i] = Result{AccountID: acct.ID, Err: err}
				return
			}
			results[i] = SyncAccount(ctx, client, acct, now)
		}()
	}
	wg.Wait()
	return results
}

// SyncAccount reads the account's stored findings of this product, archives those the run no
// longer reports (when the audit was complete), and imports the run's findings, keeping the
// CreatedAt of findings Security Hub already has.
func SyncAccount(ctx context.Context, client API, acct Account, now time.Time) Result {
	res := Result{AccountID: acct.ID}
	getLimiter := rate.NewLimiter(GetFindingsPerSecond, GetFindingsPerSecond)
	stored, err := storedFindings(ctx, client, getLimiter, acct)
	if err != nil {
		res.Err = err
		return res
	}
	var batch []types.AwsSecurityFinding
	archived := map[string]bool{}
	reported := map[string]bool{}
	for _, f := range acct.Findings {
		reported[f.Id] = true
		sdk := ToSDK(f)
		if old, ok := stored[f.Id]; ok {
			sdk.CreatedAt = old.CreatedAt
			sdk.UpdatedAt = aws.String(newerThan(old.UpdatedAt, f.UpdatedAt))
		}
		batch = append(batch, sdk)
	}
	if acct.Complete {
		for id, old := range stored {
			if !reported[id] && old.RecordState != types.RecordStateArchived {
				batch = append(batch, archive(old, now))
				archived[id] = true
			}
		}
	}
	importLimiter := rate.NewLimiter(ImportsPerSecond, ImportsPerSecond)
	batches, tooLarge := split(batch)
	res.Failed = append(res.Failed, tooLarge...)
	for _, b := range batches {
		out, err := importBatch(ctx, client, importLimiter, b)
		if err != nil {
			res.Err = err
			return res
		}
		failed := map[string]bool{}
		for _, ff := range out.FailedFindings {
			id := aws.ToString(ff.Id)
			failed[id] = true
			res.Failed = append(res.Failed, Failure{ID: id, Code: aws.ToString(ff.ErrorCode), Message: aws.ToString(ff.ErrorMessage)})
		}
		if n := int(aws.ToInt32(out.FailedCount)); n > len(out.FailedFindings) {
			res.Failed = append(res.Failed, Failure{Code: "Unlisted", Message: fmt.Sprintf("Security Hub counted %d failed findings but listed %d", n, len(out.FailedFindings))})
		}
		for _, f := range b {
			id := aws.ToString(f.Id)
			switch {
			case failed[id]:
			case archived[id]:
				res.Archived++
			default:
				res.Imported++
			}
		}
	}
	return res
}

// storedFindings reads every finding of this product and generator in the account. GetFindings
// is filtered server-side, and again here: a filter that is not applied (moto ignores them)
// must not let another product's finding be archived.
func storedFindings(ctx context.Context, client API, limiter *rate.Limiter, acct Account) (map[string]types.AwsSecurityFinding, error) {
	equals := func(v string) []types.StringFilter {
		return []types.StringFilter{{Comparison: types.StringFilterComparisonEquals, Value: aws.String(v)}}
	}
	in := &securityhub.GetFindingsInput{
		Filters: &types.AwsSecurityFindingFilters{
			ProductArn:   equals(acct.ProductARN),
			GeneratorId:  equals(report.ASFFGeneratorID),
			AwsAccountId: equals(acct.ID),
		},
		MaxResults: aws.Int32(100),
	}
	stored := map[string]types.AwsSecurityFinding{}
	pages := securityhub.NewGetFindingsPaginator(client, in)
	for pages.HasMorePages() {
		page, err := withTimeout(ctx, limiter, func(ctx context.Context) (*securityhub.GetFindingsOutput, error) { return pages.NextPage(ctx) })
		if err != nil {
			return nil, awscall.Error("securityhub", "GetFindings", "", err)
		}
		for _, f := range page.Findings {
			if aws.ToString(f.ProductArn) == acct.ProductARN && aws.ToString(f.GeneratorId) == report.ASFFGeneratorID && aws.ToString(f.AwsAccountId) == acct.ID {
				stored[aws.ToString(f.Id)] = f
			}
		}
	}
	return stored, nil
}

func importBatch(ctx context.Context, client API, limiter *rate.Limiter, batch []types.AwsSecurityFinding) (*securityhub.BatchImportFindingsOutput, error) {
	out, err := withTimeout(ctx, limiter, func(ctx context.Context) (*securityhub.BatchImportFindingsOutput, error) {
		return client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: batch})
	})
	if err != nil {
		return nil, awscall.Error("securityhub", "BatchImportFindings", "", err)
	}
	return out, nil
}

// withTimeout waits for the limiter and makes the call, both within CallTimeout.
func withTimeout[T any](ctx context.Context, limiter *rate.Limiter, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	if err := limiter.Wait(ctx); err != nil {
		var zero T
		return zero, fmt.Errorf("waiting for the call rate: %w", err)
	}
	return call(ctx)
}

// split packs findings into batches of at most MaxBatchFindings findings and MaxBatchBytes.
// A finding's size is its JSON through encoding/json, which writes every unset field of the
// SDK's types as null: more than the SDK sends, so batches err on the small side.
func split(findings []types.AwsSecurityFinding) (batches [][]types.AwsSecurityFinding, tooLarge []Failure) {
	// The envelope {"Findings":[...]} and the commas between findings.
	const envelope = 64
	var cur []types.AwsSecurityFinding
	size := envelope
	for _, f := range findings {
		b, err := json.Marshal(f)
		if err != nil || len(b) > MaxFindingBytes {
			msg := fmt.Sprintf("the finding is %d bytes, more than BatchImportFindings takes (%d)", len(b), MaxFindingBytes)
			if err != nil {
				msg = err.Error()
			}
			tooLarge = append(tooLarge, Failure{ID: aws.ToString(f.Id), Code: "TooLarge", Message: msg})
			continue
		}
		if len(cur) == MaxBatchFindings || size+len(b)+1 > MaxBatchBytes {
			batches = append(batches, cur)
			cur, size = nil, envelope
		}
		cur = append(cur, f)
		size += len(b) + 1
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches, tooLarge
}

// archive is stored re-imported as resolved: PASSED, ARCHIVED, updated now. Attributes that
// only Security Hub or its users set are dropped: an import must not carry them.
func archive(stored types.AwsSecurityFinding, now time.Time) types.AwsSecurityFinding {
	f := stored
	f.UpdatedAt = aws.String(newerThan(stored.UpdatedAt, now.UTC().Format(report.ASFFTime)))
	compliance := types.Compliance{}
	if stored.Compliance != nil {
		compliance = *stored.Compliance
	}
	compliance.Status = types.ComplianceStatusPassed
	f.Compliance = &compliance
	f.RecordState = types.RecordStateArchived
	f.ProcessedAt, f.Workflow, f.WorkflowState, f.Note, f.UserDefinedFields, f.VerificationState = nil, nil, "", nil, nil, ""
	if stored.ProductFields != nil {
		f.ProductFields = map[string]string{}
		for k, v := range stored.ProductFields {
			if !strings.HasPrefix(k, "aws/") { // Security Hub's own (aws/securityhub/FindingId, ...)
				f.ProductFields[k] = v
			}
		}
	}
	return f
}

// newerThan is stamp, or a millisecond after old when stamp is not later: Security Hub updates a
// finding only from a newer UpdatedAt.
func newerThan(old *string, stamp string) string {
	prev, err := time.Parse(time.RFC3339Nano, aws.ToString(old))
	if err != nil {
		return stamp
	}
	next, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil || !next.After(prev) {
		return prev.Add(time.Millisecond).UTC().Format(report.ASFFTime)
	}
	return stamp
}

// ToSDK is f as the SDK's type, field for field.
func ToSDK(f report.ASFFFinding) types.AwsSecurityFinding {
	resources := make([]types.Resource, len(f.Resources))
	for i, r := range f.Resources {
		resources[i] = types.Resource{Type: aws.String(r.Type), Id: aws.String(r.Id), Partition: types.Partition(r.Partition), Region: aws.String(r.Region), Details: detailsToSDK(r.Details)}
	}
	return types.AwsSecurityFinding{
		SchemaVersion:  aws.String(f.SchemaVersion),
		Id:             aws.String(f.Id),
		ProductArn:     aws.String(f.ProductArn),
		ProductName:    aws.String(f.ProductName),
		CompanyName:    aws.String(f.CompanyName),
		GeneratorId:    aws.String(f.GeneratorId),
		AwsAccountId:   aws.String(f.AwsAccountId),
		AwsAccountName: optional(f.AwsAccountName),
		Region:         aws.String(f.Region),
		Types:          f.Types,
		CreatedAt:      aws.String(f.CreatedAt),
		UpdatedAt:      aws.String(f.UpdatedAt),
		Severity:       &types.Severity{Label: types.SeverityLabel(f.Severity.Label)},
		Title:          aws.String(f.Title),
		Description:    aws.String(f.Description),
		Remediation: &types.Remediation{Recommendation: &types.Recommendation{
			Text: aws.String(f.Remediation.Recommendation.Text), Url: optional(f.Remediation.Recommendation.Url),
		}},
		ProductFields: f.ProductFields,
		Resources:     resources,
		Compliance:    &types.Compliance{Status: types.ComplianceStatus(f.Compliance.Status), RelatedRequirements: f.Compliance.RelatedRequirements},
		FindingProviderFields: &types.FindingProviderFields{
			Severity: &types.FindingProviderSeverity{Label: types.SeverityLabel(f.FindingProviderFields.Severity.Label)},
			Types:    f.FindingProviderFields.Types,
		},
		RecordState: types.RecordState(f.RecordState),
	}
}

func detailsToSDK(d *report.ASFFResourceDetails) *types.ResourceDetails {
	if d == nil {
		return nil
	}
	out := &types.ResourceDetails{}
	if k := d.AwsIamAccessKey; k != nil {
		out.AwsIamAccessKey = &types.AwsIamAccessKeyDetails{
			AccessKeyId: optional(k.AccessKeyId), AccountId: aws.String(k.AccountId), PrincipalName: aws.String(k.PrincipalName),
			PrincipalType: aws.String(k.PrincipalType), CreatedAt: aws.String(k.CreatedAt), Status: types.AwsIamAccessKeyStatus(k.Status),
		}
	}
	if u := d.AwsIamUser; u != nil {
		out.AwsIamUser = &types.AwsIamUserDetails{UserName: aws.String(u.UserName), Path: aws.String(u.Path), CreateDate: aws.String(u.CreateDate)}
	}
	return out
}

// optional is nil for "", so that an unset value stays out of the request as it stays out of
// the file.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
