package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/events"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// SinceReportFlags add the CloudTrail events after the credential report to a live audit.
type SinceReportFlags struct {
	On         bool
	CloudTrail string
}

func (s *SinceReportFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&s.On, "since-report", false, "also judge the keys created after the credential report's GeneratedTime, from CloudTrail (LookupEvents, or --cloudtrail logs), so a key made in the report's blind spot is not missed")
	cmd.Flags().StringVar(&s.CloudTrail, "cloudtrail", "", "with --since-report: read CloudTrail logs, a `PATH` or s3://BUCKET/PREFIX, instead of cloudtrail:LookupEvents")
}

func (s *SinceReportFlags) validate(src SourceFlags) error {
	switch {
	case !s.On && s.CloudTrail != "":
		return BadInput(errors.New("--cloudtrail goes with --since-report (or use `setupkeys events`)"))
	case !s.On:
		return nil
	case src.ReportPath != "" || src.Exact || src.Org.multiAccount():
		return BadInput(errors.New("--since-report adds to the live credential report of one account: not with --report, --exact, --org, --ou or --accounts"))
	}
	return nil
}

// addSinceReport judges every access key CloudTrail shows created after the report's
// GeneratedTime and not deleted or deactivated later, with the live key check and the rule (the
// user's creation from GetUser, so a user made before the report counts too). Keys the report
// already judged (same key ID, or same user and creation second) are not added twice.
func addSinceReport(ctx context.Context, flags SinceReportFlags, src SourceFlags, session *Session, keepPassing bool, audit *setupkeys.Audit) error {
	if len(audit.Accounts) != 1 {
		return errors.New("--since-report: the audit did not give one account")
	}
	res := &audit.Accounts[0]
	since := time.Time{}
	if g := res.Source.GeneratedTime; g != nil {
		since = g.Add(-time.Second) // the report's second precision
	}
	tracker := events.NewTracker(src.Window)
	tracker.KeysOfUnknownUsers = true
	evSrc := setupkeys.Source{Kind: setupkeys.SourceCloudTrail, File: flags.CloudTrail}
	if flags.CloudTrail == "" {
		evSrc.File = "cloudtrail:LookupEvents"
		if _, err := events.LookupIAM(ctx, session.CloudTrail(), since, tracker.Apply); err != nil {
			return fmt.Errorf("--since-report: %w", err)
		}
	} else {
		files, err := cloudTrailFiles(ctx, flags.CloudTrail, func() (*Session, error) { return session, nil })
		if err != nil {
			return err
		}
		if _, err := streamEvents(ctx, files, events.StreamOptions{Since: since}, tracker.Apply); err != nil {
			return err
		}
	}
	results, err := events.Live(ctx, session.Self, session.Account, tracker.Rows(), evSrc, events.JudgeOptions{Rule: rule.Options{Window: src.Window}, KeepPassing: true})
	if err != nil {
		return fmt.Errorf("--since-report: %w", err)
	}
	added := 0
	for _, r := range results {
		if r.AccountID != session.Account {
			res.Warnings = append(res.Warnings, fmt.Sprintf("--since-report: %s of account %s in the logs %s not this account's: left out", plural.Count(r.Users, "user"), r.AccountID, plural.Choose(r.Users, "is", "are")))
			continue
		}
		res.Warnings = append(res.Warnings, r.Warnings...)
		for _, f := range r.Findings {
			if judgedAlready(res.Findings, f) {
				continue
			}
			added++
			if f.Status == setupkeys.StatusPass {
				res.Passed++
				if !keepPassing {
					continue
				}
			}
			res.Findings = append(res.Findings, f)
		}
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("--since-report: %s created after the report judged from CloudTrail", plural.Count(added, "key")))
	return nil
}

// iamEventsRegion sends LookupEvents to us-east-1 in the aws partition, where IAM's events are
// recorded; other partitions (aws-cn, aws-us-gov) keep the configured region.
func iamEventsRegion(o *cloudtrail.Options) {
	if !strings.HasPrefix(o.Region, "cn-") && !strings.HasPrefix(o.Region, "us-gov-") {
		o.Region = "us-east-1"
	}
}

func judgedAlready(findings []setupkeys.Finding, f setupkeys.Finding) bool {
	for _, g := range findings {
		if g.AccessKeyID != nil && f.AccessKeyID != nil && *g.AccessKeyID == *f.AccessKeyID {
			return true
		}
		if g.ARN == f.ARN && g.KeyCreated.Equal(f.KeyCreated) {
			return true
		}
	}
	return false
}
