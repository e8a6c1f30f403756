package source

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// BenchmarkFromReport parses a 5,000-user report and applies the rule: the work of
// `setupkeys audit --report` minus process start and rendering.
func BenchmarkFromReport(b *testing.B) {
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
				res, err := FromReport(bytes.NewReader(data), "bench.csv", setupkeys.SourceReportFile, Options{Rule: rule.Options{}})
				if err != nil || res.Users != users+1 { // the root row counts
					b.Fatalf("users %d err %v", res.Users, err)
				}
			}
		})
	}
}

func TestGeneratedReportHasEveryCase(t *testing.T) {
	var buf bytes.Buffer
	if err := reportgen.Write(&buf, "123456789012", 500, 1); err != nil {
		t.Fatal(err)
	}
	res, err := FromReport(&buf, "gen.csv", setupkeys.SourceReportFile, Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts := setupkeys.Audit{Accounts: []setupkeys.AccountResult{res}}.Count()
	if res.Users != 501 || counts[setupkeys.StatusFail] < 50 || counts[setupkeys.StatusPass] < 50 {
		t.Errorf("users %d counts %v", res.Users, counts)
	}
}
