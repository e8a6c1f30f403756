package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
	"github.com/setupkeys/setupkeys/internal/report"
)

// BenchmarkAuditReport is `setupkeys audit --report` on a 5,000-user report in process: read,
// judge, render. scripts/bench-report.sh measures the whole process.
func BenchmarkAuditReport(b *testing.B) {
	path := filepath.Join(b.TempDir(), "report.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := reportgen.Write(f, "123456789012", 5000, 1); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for _, format := range report.Formats {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fac := &Factory{IO: IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, Now: time.Now}
				root := NewCmdRoot(fac, "bench")
				root.SetArgs([]string{"audit", "--report", path, "--format", format})
				if code, msg := ExitCode(root.ExecuteContext(context.Background())); code != ExitFailed {
					b.Fatalf("exit %d %s", code, msg)
				}
			}
		})
	}
}
