package source

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
)

// BenchmarkReportFile reads a 500- and a 5,000-user report into rows, handed to a Rows that only
// counts them: the source's share of `setupkeys audit --report` (the pipeline's
// BenchmarkRunReportFile adds the rule and the findings).
func BenchmarkReportFile(b *testing.B) {
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
				var rows countedRows
				err := ReportFile(bytes.NewReader(data), "bench.csv", time.Now(), &rows)
				if err != nil || rows.users != users+1 { // the root row counts
					b.Fatalf("users %d err %v", rows.users, err)
				}
			}
		})
	}
}

// countedRows counts the rows and keys a source hands on, and keeps nothing.
type countedRows struct{ users, keys int }

func (c *countedRows) Source(setupkeys.Source) {}
func (c *countedRows) Warn(string)             {}
func (c *countedRows) User(u setupkeys.User, again bool) error {
	if !again {
		c.users++
	}
	c.keys += len(u.Keys)
	return nil
}

func TestGeneratedReportHasEveryCase(t *testing.T) {
	var buf bytes.Buffer
	if err := reportgen.Write(&buf, "123456789012", 500, 1); err != nil {
		t.Fatal(err)
	}
	res, err := fromReport(&buf, "gen.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts := setupkeys.Audit{Accounts: []setupkeys.AccountResult{res}}.Count()
	if res.Users != 501 || counts[setupkeys.StatusFail] < 50 || counts[setupkeys.StatusPass] < 50 {
		t.Errorf("users %d counts %v", res.Users, counts)
	}
}
