package pipeline

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
)

// BenchmarkRunReportFile audits a 500- and a 5,000-user report: rows read, every key judged once,
// findings built (passes counted): the work of `setupkeys audit --report` minus process start and
// rendering.
func BenchmarkRunReportFile(b *testing.B) {
	for _, users := range []int{500, 5000} {
		var buf bytes.Buffer
		if err := reportgen.Write(&buf, "123456789012", users, 1); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(strconv.Itoa(users)+"users", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				audit, err := Run(context.Background(), Config{Report: bytes.NewReader(data), ReportName: "bench.csv"}, Clients{})
				if err != nil || audit.Accounts[0].Users != users+1 || audit.Count()[setupkeys.StatusFail] == 0 {
					b.Fatalf("users %d err %v", audit.Accounts[0].Users, err)
				}
			}
		})
	}
}
