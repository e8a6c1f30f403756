package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/atomicfile"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/credreport"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/suppress"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// AWSFlags are the AWS CLI's connection flags.
type AWSFlags struct {
	Profile     string
	Region      string
	EndpointURL string
	// AttemptTimeout and CallTimeout bound each HTTP attempt and each AWS call with its
	// retries (--attempt-timeout, --call-timeout).
	AttemptTimeout, CallTimeout time.Duration
	// Debug lets the SDK log to stderr and adds the SDK's own error to credential problems.
	Debug bool
	// cmd is the command the flags belong to: --debug's SDK log goes to its stderr.
	cmd *cobra.Command
}

func (a *AWSFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.Profile, "profile", "", "AWS named profile (as in the AWS CLI)")
	cmd.Flags().StringVar(&a.Region, "region", "", "AWS region for STS and regional endpoints (IAM is global)")
	cmd.Flags().StringVar(&a.EndpointURL, "endpoint-url", "", "send every AWS call (IAM, STS, Organizations) to this URL, e.g. an emulator")
	cmd.Flags().DurationVar(&a.AttemptTimeout, "attempt-timeout", awsconfig.DefaultAttemptTimeout, "give up one HTTP attempt of an AWS call after this long (the SDK then retries)")
	cmd.Flags().DurationVar(&a.CallTimeout, "call-timeout", awsconfig.DefaultCallTimeout, "give up an AWS call, all its retries included, after this long")
	cmd.Flags().BoolVar(&a.Debug, "debug", false, "show the AWS SDK's log (retries, responses) and the full cause of credential errors on stderr")
	a.cmd = cmd
}

func (a AWSFlags) options() awsconfig.Options {
	o := awsconfig.Options{Profile: a.Profile, Region: a.Region, EndpointURL: a.EndpointURL, AttemptTimeout: a.AttemptTimeout, CallTimeout: a.CallTimeout}
	if a.cmd != nil {
		stderr := a.cmd.ErrOrStderr()
		o.Warn = func(w string) { fmt.Fprintln(stderr, "warning: "+termsafe.String(w)) }
		if a.Debug {
			o.DebugLog = stderr
		}
	}
	return o
}

// SourceFlags choose and tune where an audit reads from, and what it suppresses; plan shares them.
type SourceFlags struct {
	AWS          AWSFlags
	Org          OrgFlags
	ReportPath   string
	Exact        bool
	Window       time.Duration
	Suppressions string
}

func (s *SourceFlags) register(cmd *cobra.Command) {
	s.AWS.register(cmd)
	s.Org.register(cmd)
	cmd.Flags().StringVar(&s.Suppressions, "suppressions", "", "YAML file of suppressions (by account, user, path, tag, key ID or finding ID, each with a reason and optional expiry)")
	cmd.Flags().StringVar(&s.ReportPath, "report", "", "audit a credential report `FILE` (CSV, the JSON of 'aws iam get-credential-report', or base64; - for stdin) instead of the live account")
	cmd.Flags().BoolVar(&s.Exact, "exact", false, "read the live IAM API user by user instead of the credential report (fresh data, more calls)")
	cmd.Flags().DurationVar(&s.Window, "window", rule.DefaultWindow, "how long after a user's creation a key counts as created at setup")
}

func (s *SourceFlags) validate() error {
	if s.Window <= 0 {
		return BadInput(fmt.Errorf("--window must be positive, got %s", s.Window))
	}
	if s.ReportPath != "" && s.Exact {
		return BadInput(errors.New("--report and --exact exclude each other: --exact reads the live API"))
	}
	if s.ReportPath != "" && (s.AWS.Profile != "" || s.AWS.EndpointURL != "") {
		return BadInput(errors.New("--report audits a file: --profile and --endpoint-url do not apply"))
	}
	if s.ReportPath != "" && s.Org.multiAccount() {
		return BadInput(errors.New("--report audits one file: --org, --ou and --accounts need a live audit"))
	}
	return s.Org.validate()
}

// kind is the kind of source the flags choose.
func (s *SourceFlags) kind() setupkeys.SourceKind {
	switch {
	case s.ReportPath != "":
		return setupkeys.SourceReportFile
	case s.Org.multiAccount():
		return "organization"
	case s.Exact:
		return setupkeys.SourceLiveAPI
	}
	return setupkeys.SourceLiveReport
}

// AuditOptions is everything `setupkeys audit` needs.
type AuditOptions struct {
	IO      IOStreams
	Now     func() time.Time
	Clients AWSClients

	Source     SourceFlags
	Output     OutputFlags
	All        bool
	Strict     bool
	ShowKeyIDs bool
	// SecurityHub imports the findings into Security Hub after the audit (--security-hub).
	SecurityHub bool
	// Outputs are the renderers to run, resolved from Output before the audit starts.
	Outputs []Output
	// Version is setupkeys' version, named by the formats that name the tool.
	Version string
	// SinceReport adds the CloudTrail events after the report (audit_since.go).
	SinceReport SinceReportFlags
}

// NewCmdAudit builds `setupkeys audit`. runF replaces the run in tests of flag parsing.
func NewCmdAudit(f *Factory, runF func(context.Context, *AuditOptions) error) *cobra.Command {
	opts := &AuditOptions{IO: f.IO, Now: f.Now, Clients: f.aws()}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Find access keys created at a console user's setup and never used",
		Long: `audit judges every access key of every IAM user by the CIS rule: a key of a user with a console
password, created within --window of the user (default 10m) and never used, fails; one with no
last-used date made before 2015-04-22 (when IAM began tracking use) needs review; the rest pass.
Nothing is changed in AWS.

Where the data comes from:
  (default)        the live account of your AWS config: the credential report (IAM reuses one
                   for up to 4 hours; the output says how old it is), then each flagged key is
                   confirmed live (its ID, still active, still unused)
  --exact          the IAM API user by user: fresh, more calls
  --report FILE    a credential report you already have: the CSV, the JSON that
                   'aws iam get-credential-report' prints, or its base64; - reads stdin
  --org, --ou, --accounts
                   every chosen account of an AWS Organization, through a role in each

The table is for people (it fits the terminal), JSON (one document, also on failure) and CSV for
programs; warnings and accounts that could not be audited always reach stderr too.
--suppressions FILE marks accepted keys as suppressed, each with its reason.`,
		Example: `  setupkeys audit --report examples/credential-report.csv
  aws iam get-credential-report | setupkeys audit --report -
  setupkeys audit --profile prod --format json
  setupkeys audit --exact --all
  setupkeys audit --format json --output audit.json --format table
  setupkeys audit --org --role-name SecurityAudit --format csv > keys.csv
  setupkeys audit --suppressions accepted.yaml --strict`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Outputs, err = opts.Output.Outputs(); err != nil {
				return err
			}
			opts.Version = cmd.Root().Version
			if err := opts.Source.validate(); err != nil {
				return opts.failed(setupkeys.Audit{StartedAt: opts.Now(), Window: opts.Source.Window}, err)
			}
			if err := opts.SinceReport.validate(opts.Source); err != nil {
				return err
			}
			if opts.SecurityHub && opts.Source.ReportPath != "" {
				return BadInput(errors.New("--security-hub imports into the audited accounts' Security Hub: it needs a live audit, not --report (--format asff writes the findings to a file)"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return auditRun(cmd.Context(), opts)
		},
	}
	opts.Source.register(cmd)
	opts.SinceReport.register(cmd)
	opts.Output.register(cmd, "table")
	cmd.Flags().BoolVar(&opts.All, "all", false, "list passing keys too")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "treat review findings as failures (exit 3)")
	cmd.Flags().BoolVar(&opts.ShowKeyIDs, "show-key-ids", false, "print access key IDs in full in the table and the HTML page (JSON and CSV always do)")
	cmd.Flags().BoolVar(&opts.SecurityHub, "security-hub", false, "import the findings (ASFF) into AWS Security Hub in the run's region, each account's from that account, and archive this tool's findings that are resolved")
	return cmd
}

func auditRun(ctx context.Context, opts *AuditOptions) error {
	audit, session, err := collect(ctx, opts.IO, opts.Now, opts.Clients, opts.Source, opts.All)
	if err == nil && opts.SinceReport.On {
		err = addSinceReport(ctx, opts.SinceReport, opts.Source, session, opts.All, &audit)
	}
	if err != nil {
		return opts.failed(audit, err)
	}
	if err := writeOutputs(opts.IO, opts.Outputs, audit, report.Options{ShowKeyIDs: opts.ShowKeyIDs, Now: opts.Now(), Strict: opts.Strict, ToolVersion: opts.Version}); err != nil {
		return err
	}
	reportProblems(opts.IO, opts.Outputs, audit)
	if opts.SecurityHub {
		// Findings that did not reach Security Hub exit 1 even when keys failed: the import the
		// user asked for is incomplete.
		if err := importSecurityHub(ctx, opts.IO.ErrOut, audit, session, opts.Source.Org, opts.Now()); err != nil {
			return err
		}
	}
	return auditExit(audit, opts.Strict)
}

// failed returns err, the reason the audit could not run, after writing it as the JSON document
// to each JSON output: a program reading one always gets a document, with the error in "error"
// (and the caller's account, when known, as an account with status "error").
func (opts *AuditOptions) failed(audit setupkeys.Audit, err error) error {
	audit.Accounts = nil
	if audit.CallerAccount != "" {
		audit.Accounts = []setupkeys.AccountResult{{AccountID: audit.CallerAccount, Err: err}}
	}
	doc := report.NewDocument(audit, opts.Now())
	doc.Error = err.Error()
	doc.Source.Kind = opts.Source.kind()
	if opts.Source.ReportPath != "" {
		doc.Source.File = opts.Source.ReportPath
	}
	for _, out := range opts.Outputs {
		if out.Format != "json" {
			continue
		}
		if werr := writeDocument(opts.IO, out.Path, doc); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// writeDocument writes doc to path (atomically), or to stdout when path is "".
func writeDocument(streams IOStreams, path string, doc report.Document) error {
	if path == "" {
		if err := report.WriteJSON(streams.Out, doc, report.Options{IndentJSON: streams.StdoutIsTTY}); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		return nil
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return fmt.Errorf("writing json: %w", err)
	}
	defer f.Abort()
	if err := report.WriteJSON(f, doc, report.Options{}); err != nil {
		return fmt.Errorf("writing json to %s: %w", path, err)
	}
	return f.Commit()
}

// auditExit turns an audit into the exit contract: 3 when a key failed (or, with --strict, needs
// review or is pending), else 1 when an account could not be audited, else 0.
func auditExit(a setupkeys.Audit, strict bool) error {
	counts := a.Count()
	failed := counts[setupkeys.StatusFail]
	if strict {
		failed += counts[setupkeys.StatusReview] + counts[setupkeys.StatusPending]
	}
	if failed > 0 {
		return &exitError{code: ExitFailed}
	}
	if a.Failed() {
		return &exitError{code: ExitError, err: fmt.Errorf("%d of %d accounts could not be audited", a.Errored(), len(a.Accounts))}
	}
	return nil
}

// collect runs the audit pipeline on the chosen source, suppressions applied, and says who ran
// it: the session, nil for a report file. The audit's region is the AWS config's, for a report
// file --region.
func collect(ctx context.Context, streams IOStreams, now func() time.Time, clients AWSClients, flags SourceFlags, keepPassing bool) (setupkeys.Audit, *Session, error) {
	cfg := pipeline.Config{Exact: flags.Exact, Rule: rule.Options{Window: flags.Window}, KeepPassing: keepPassing, Now: now}
	if flags.Suppressions != "" {
		var err error
		if cfg.Suppressions, err = suppress.Load(flags.Suppressions); err != nil {
			return setupkeys.Audit{StartedAt: now(), Window: flags.Window}, nil, BadInput(err)
		}
	}
	if flags.ReportPath != "" {
		r, name, err := openReport(streams, flags.ReportPath)
		if err != nil {
			return setupkeys.Audit{StartedAt: now(), Window: flags.Window}, nil, err
		}
		defer r.Close()
		head := &headRecorder{r: r}
		cfg.Report, cfg.ReportName = head, name
		audit, err := pipeline.Run(ctx, cfg, pipeline.Clients{})
		audit.Region = flags.AWS.Region
		var perr *credreport.Error
		if errors.As(err, &perr) && looksLikeCLIText(head.head) {
			return audit, nil, fmt.Errorf("%w\nhint: this looks like the AWS CLI's --output text, which setupkeys cannot read: run aws iam get-credential-report --output json", err)
		}
		return audit, nil, err
	}
	session, err := clients.Connect(ctx, flags.AWS)
	if err != nil {
		return setupkeys.Audit{StartedAt: now(), Window: flags.Window}, nil, err
	}
	if flags.Org.multiAccount() {
		cfg.Accounts = flags.Org.accounts(streams)
	}
	audit, err := pipeline.Run(ctx, cfg, session.AuditClients(flags.Org.role(session.ARN)))
	audit.Region = session.Config.Region
	return audit, session, err
}

// openReport opens the report file at path, "-" for stdin, and names it for messages. A person
// who typed --report - at a terminal is told what it waits for.
func openReport(streams IOStreams, path string) (io.ReadCloser, string, error) {
	if path == "-" {
		if streams.StdinIsTTY {
			fmt.Fprintln(streams.ErrOut, "setupkeys: reading the credential report from the terminal; pipe it in instead (aws iam get-credential-report | setupkeys audit --report -), or end the input with Ctrl-D")
		}
		return io.NopCloser(&stickyEOF{r: streams.In}), "stdin", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", BadInput(err)
	}
	return f, path, nil
}

// stickyEOF ends the input at the first end of file: a terminal reports Ctrl-D once, and a
// reader that reads again after it would wait for more.
type stickyEOF struct {
	r   io.Reader
	eof bool
}

func (s *stickyEOF) Read(p []byte) (int, error) {
	if s.eof {
		return 0, io.EOF
	}
	n, err := s.r.Read(p)
	if err == io.EOF || (n == 0 && err == nil && len(p) > 0) {
		s.eof = true
		if n == 0 {
			return 0, io.EOF
		}
	}
	return n, err
}

// headRecorder keeps the first bytes read through it, to say afterwards what the input looked
// like.
type headRecorder struct {
	r    io.Reader
	head []byte
}

const headSize = 4096

func (h *headRecorder) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if room := headSize - len(h.head); room > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// looksLikeCLIText reports whether head starts like `aws iam get-credential-report --output
// text`: one line of tab-separated fields, base64 content first and the report's format
// (text/csv) or its generation time among the others.
func looksLikeCLIText(head []byte) bool {
	line, _, _ := strings.Cut(string(head), "\n")
	fields := strings.Split(strings.TrimRight(line, "\r"), "\t")
	if len(fields) < 2 || fields[0] == "" {
		return false
	}
	for _, c := range fields[0] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	for _, f := range fields[1:] {
		if f == "text/csv" {
			return true
		}
		if _, err := time.Parse(time.RFC3339, f); err == nil {
			return true
		}
	}
	return false
}
