package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/atomicfile"
	"github.com/setupkeys/setupkeys/internal/report"
)

// OutputFlags are --format and --output. One run may render the same audit several times:
// each --output names the file of the --format right before it, and a --format without an
// --output goes to stdout. With at most one of each, their order does not matter.
type OutputFlags struct {
	defaultFormat string
	// given holds both flags' values in command-line order, which pairing needs and pflag
	// does not keep across two flags.
	given []outputFlag
}

type outputFlag struct {
	isFormat bool
	value    string
}

// Output is one renderer and where it writes: Path is "" for stdout.
type Output struct {
	Format string
	Path   string
}

// outputFlagValue records one of the two flags into the shared, ordered list.
type outputFlagValue struct {
	flags    *OutputFlags
	isFormat bool
}

func (v outputFlagValue) Set(s string) error {
	v.flags.given = append(v.flags.given, outputFlag{isFormat: v.isFormat, value: s})
	return nil
}

func (v outputFlagValue) String() string {
	if v.isFormat {
		return v.flags.defaultFormat
	}
	return ""
}

func (v outputFlagValue) Type() string { return "string" }

func (o *OutputFlags) register(cmd *cobra.Command, defaultFormat string) {
	o.defaultFormat = defaultFormat
	cmd.Flags().Var(outputFlagValue{flags: o, isFormat: true}, "format", "output `FORMAT`: "+strings.Join(report.Formats, ", ")+"; repeat as --format X --output FILE pairs to write several from one audit")
	cmd.Flags().VarP(outputFlagValue{flags: o}, "output", "o", "write the --format before it to `FILE` (atomically; - or none for stdout)")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return report.Formats, cobra.ShellCompDirectiveNoFileComp
	})
}

// Outputs pairs the flags and checks the result: known formats, at most one output on stdout,
// no file named twice, and every file one that may be written. Errors are bad usage.
func (o *OutputFlags) Outputs() ([]Output, error) {
	outs, err := o.pair()
	if err != nil {
		return nil, BadInput(err)
	}
	stdout := 0
	seen := map[string]string{}
	for _, out := range outs {
		if !slices.Contains(report.Formats, out.Format) {
			return nil, BadInput(fmt.Errorf("--format %q: want one of %s", out.Format, strings.Join(report.Formats, ", ")))
		}
		if out.Path == "" {
			if stdout++; stdout > 1 {
				return nil, BadInput(errors.New("more than one --format writes to stdout: give each but one an --output FILE right after it"))
			}
			continue
		}
		abs, err := filepath.Abs(out.Path)
		if err != nil {
			return nil, BadInput(fmt.Errorf("--output %s: %w", out.Path, err))
		}
		if prev, ok := seen[abs]; ok {
			return nil, BadInput(fmt.Errorf("--output %s is given twice (for %s and %s)", out.Path, prev, out.Format))
		}
		seen[abs] = out.Format
		if err := atomicfile.CheckDestination(out.Path); err != nil {
			return nil, BadInput(fmt.Errorf("--output %w (- writes to stdout)", err))
		}
	}
	return outs, nil
}

func (o *OutputFlags) pair() ([]Output, error) {
	var formats, files int
	for _, g := range o.given {
		if g.isFormat {
			formats++
		} else {
			files++
		}
	}
	if formats <= 1 && files <= 1 {
		out := Output{Format: o.defaultFormat}
		for _, g := range o.given {
			if g.isFormat {
				out.Format = g.value
			} else {
				out.Path = stdoutPath(g.value)
			}
		}
		return []Output{out}, nil
	}
	var outs []Output
	open := false // the last Output has a --format still waiting for its --output
	for _, g := range o.given {
		switch {
		case g.isFormat:
			outs = append(outs, Output{Format: g.value})
			open = true
		case !open:
			return nil, fmt.Errorf("--output %s has no --format right before it: with several outputs, write each as --format X --output FILE", g.value)
		default:
			outs[len(outs)-1].Path = stdoutPath(g.value)
			open = false
		}
	}
	return outs, nil
}

func stdoutPath(p string) string {
	if p == "-" {
		return ""
	}
	return p
}

// writeOutputs renders the audit once per output. Files are rendered beside their destination
// and renamed into place only once every file rendered, so a renderer's failure leaves every
// destination as it was; stdout comes last.
func writeOutputs(streams IOStreams, outs []Output, a setupkeys.Audit, opts report.Options) error {
	type pending struct {
		out  Output
		file *atomicfile.File
	}
	var files []pending
	defer func() {
		for _, p := range files {
			p.file.Abort() // a no-op once committed
		}
	}()
	fileOpts := opts
	fileOpts.IndentJSON = false
	for _, out := range outs {
		if out.Path == "" {
			continue
		}
		f, err := atomicfile.Create(out.Path, 0o644)
		if err != nil {
			return fmt.Errorf("writing %s: %w", out.Format, err)
		}
		files = append(files, pending{out, f})
		if err := report.Render(f, out.Format, a, fileOpts); err != nil {
			return fmt.Errorf("writing %s to %s: %w", out.Format, out.Path, err)
		}
	}
	for _, p := range files {
		if err := p.file.Commit(); err != nil {
			return fmt.Errorf("writing %s to %s: %w", p.out.Format, p.out.Path, err)
		}
	}
	opts.IndentJSON = streams.StdoutIsTTY
	opts.Width = streams.StdoutWidth
	for _, out := range outs {
		if out.Path == "" {
			if err := report.Render(streams.Out, out.Format, a, opts); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
	}
	return nil
}
