package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/events"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// EventsOptions is everything `setupkeys events` needs.
type EventsOptions struct {
	IO      IOStreams
	Now     func() time.Time
	Clients AWSClients

	AWS        AWSFlags
	CloudTrail string
	Live       bool
	Window     time.Duration
	Format     string
	All        bool
	Strict     bool
	ShowKeyIDs bool
}

// NewCmdEvents builds `setupkeys events`. runF replaces the run in tests of flag parsing.
func NewCmdEvents(f *Factory, runF func(context.Context, *EventsOptions) error) *cobra.Command {
	opts := &EventsOptions{IO: f.IO, Now: f.Now, Clients: f.aws()}
	cmd := &cobra.Command{
		Use:   "events --cloudtrail PATH|s3://BUCKET/PREFIX",
		Short: "Find setup keys in CloudTrail logs: keys created at a console user's setup and not deleted or deactivated since",
		Long: `events reads CloudTrail log files ({"Records":[...]}, gzipped or not; a file, a folder
recursively, or an S3 prefix in CloudTrail's AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/
layout) and follows IAM's CreateUser, CreateLoginProfile, DeleteLoginProfile, CreateAccessKey,
UpdateAccessKey, DeleteAccessKey and DeleteUser in eventTime order. A key created within the window
after its user, for a user with a console password, and not deleted or deactivated later in the logs
is a finding: "pass" when a call signed with it is in the logs, else "pending": logs hold only the
calls they recorded (no data events, other trails or regions, nothing after the last file), so they
cannot prove the key unused. With --live each key found is judged on IAM's live facts through the
same key check as audit: fail, review or pass.`,
		Example: `  setupkeys events --cloudtrail ./AWSLogs
  setupkeys events --cloudtrail s3://my-trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/07/ --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.CloudTrail == "" {
				return BadInput(errors.New("--cloudtrail PATH or s3://BUCKET/PREFIX is required"))
			}
			if !slices.Contains(report.Formats, opts.Format) {
				return BadInput(fmt.Errorf("--format %q: want one of %s", opts.Format, strings.Join(report.Formats, ", ")))
			}
			if opts.Window <= 0 {
				return BadInput(fmt.Errorf("--window must be positive, got %s", opts.Window))
			}
			if !isS3(opts.CloudTrail) && !opts.Live && (opts.AWS.Profile != "" || opts.AWS.EndpointURL != "") {
				return BadInput(errors.New("--cloudtrail names local files and --live is off: --profile and --endpoint-url do not apply"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return eventsRun(cmd.Context(), opts)
		},
	}
	opts.AWS.register(cmd)
	cmd.Flags().StringVar(&opts.CloudTrail, "cloudtrail", "", "CloudTrail logs: a `PATH` (file or folder) or s3://BUCKET/PREFIX")
	cmd.Flags().BoolVar(&opts.Live, "live", false, "judge the keys found with IAM's live facts (password, key status, last use), as audit does, instead of the logs alone")
	cmd.Flags().DurationVar(&opts.Window, "window", rule.DefaultWindow, "how long after a user's creation a key counts as created at setup")
	cmd.Flags().StringVar(&opts.Format, "format", "table", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().BoolVar(&opts.All, "all", false, "list passing keys too")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "treat review and pending findings as failures (exit 3)")
	cmd.Flags().BoolVar(&opts.ShowKeyIDs, "show-key-ids", false, "print access key IDs in full in the table (JSON and CSV always do)")
	return cmd
}

func isS3(path string) bool { return strings.HasPrefix(path, "s3://") }

func eventsRun(ctx context.Context, opts *EventsOptions) error {
	audit := setupkeys.Audit{StartedAt: opts.Now(), Window: opts.Window}
	// One session for the run, made when first needed (an S3 prefix, --live).
	var session *Session
	connect := func() (*Session, error) {
		var err error
		if session == nil {
			session, err = opts.Clients.Connect(ctx, opts.AWS)
		}
		return session, err
	}
	files, err := cloudTrailFiles(ctx, opts.CloudTrail, connect)
	if err != nil {
		return err
	}
	tracker := events.NewTracker(opts.Window)
	stats, err := streamEvents(ctx, files, events.StreamOptions{}, tracker.Apply)
	if err != nil {
		return err
	}
	src := setupkeys.Source{Kind: setupkeys.SourceCloudTrail, File: opts.CloudTrail}
	judge := events.JudgeOptions{Rule: rule.Options{Window: opts.Window}, KeepPassing: opts.All}
	if opts.Live {
		session, err := connect()
		if err != nil {
			return err
		}
		audit.CallerAccount = session.Account
		audit.Accounts, err = events.Live(ctx, session.Self, session.Account, tracker.Rows(), src, judge)
		if err != nil && len(audit.Accounts) == 0 {
			return err
		}
	} else {
		audit.Accounts = events.FromLogs(tracker.Rows(), src, judge)
	}
	if len(audit.Accounts) == 0 {
		audit.Accounts = []setupkeys.AccountResult{{Source: src}}
	}
	if stats.Late > 0 {
		audit.Accounts[0].Warnings = append(audit.Accounts[0].Warnings, fmt.Sprintf(
			"%s reached their log file more than %s after they happened and were applied out of order", plural.Count(stats.Late, "event"), events.DefaultHorizon))
	}
	if err := report.Render(opts.IO.Out, opts.Format, audit, report.Options{ShowKeyIDs: opts.ShowKeyIDs, Now: opts.Now(), IndentJSON: opts.IO.StdoutIsTTY}); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return auditExit(audit, opts.Strict)
}

// cloudTrailFiles lists the log files at path: local, or an S3 prefix read through the session
// connect gives (the Factory's AWS).
func cloudTrailFiles(ctx context.Context, path string, connect func() (*Session, error)) ([]events.LogFile, error) {
	if !isS3(path) {
		files, err := events.LocalFiles(path)
		var pe *fs.PathError
		if errors.As(err, &pe) || errors.Is(err, events.ErrNoLogs) {
			return nil, BadInput(fmt.Errorf("--cloudtrail: %w", err))
		}
		return files, err
	}
	bucket, prefix, err := events.ParseS3URL(path)
	if err != nil {
		return nil, BadInput(fmt.Errorf("--cloudtrail: %w", err))
	}
	session, err := connect()
	if err != nil {
		return nil, err
	}
	files, err := events.S3Files(ctx, session.S3(), bucket, prefix)
	if errors.Is(err, events.ErrNoLogs) {
		return nil, BadInput(err)
	}
	return files, err
}

// streamEvents feeds the logs to apply; a bad log file is bad input (exit 2).
func streamEvents(ctx context.Context, files []events.LogFile, opts events.StreamOptions, apply func(events.Event)) (events.Stats, error) {
	stats, err := events.Stream(ctx, files, opts, func(ev events.Event) error { apply(ev); return nil })
	var fe *events.FileError
	if errors.As(err, &fe) {
		return stats, BadInput(err)
	}
	return stats, err
}
