package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/setupkeys/setupkeys"
)

// Renderer writes an audit in one format. It presents what the findings say and decides nothing.
type Renderer func(w io.Writer, a setupkeys.Audit, opts Options) error

// Format is one output format: the name --format takes and its renderer.
type Format struct {
	Name   string
	Render Renderer
}

// registry lists the output formats in the order help shows them; a new format is one entry.
var registry = []Format{
	{"table", Table},
	{"json", JSON},
	{"csv", func(w io.Writer, a setupkeys.Audit, _ Options) error { return CSV(w, a) }},
	{"sarif", SARIF},
	{"asff", ASFF},
	{"ocsf", OCSF},
	{"junit", JUnit},
	{"html", HTML},
}

// Formats lists the output formats by name.
var Formats = formatNames()

func formatNames() []string {
	names := make([]string, len(registry))
	for i, f := range registry {
		names[i] = f.Name
	}
	return names
}

// Lookup returns the renderer of the named format.
func Lookup(name string) (Renderer, bool) {
	for _, f := range registry {
		if f.Name == name {
			return f.Render, true
		}
	}
	return nil, false
}

// Render writes a in the named format, buffered: the table is many small writes, and each would
// be a system call on a terminal or a pipe.
func Render(w io.Writer, format string, a setupkeys.Audit, opts Options) error {
	render, ok := Lookup(format)
	if !ok {
		return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
	bw := bufio.NewWriterSize(w, 64*1024)
	if err := render(bw, a, opts); err != nil {
		return err
	}
	return bw.Flush()
}
