package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// countJudged replaces the pipeline's rule with one that counts, per key (user ARN, slot and
// creation second), how many times a key was handed to the rule, until the test ends.
func countJudged(t *testing.T) func() map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	judge = func(u setupkeys.User, opts rule.Options, dst []rule.Verdict) []rule.Verdict {
		mu.Lock()
		for _, k := range u.Keys {
			counts[judgedKey(u.ARN, k.Slot, k.Created)]++
		}
		mu.Unlock()
		return rule.Judge(u, opts, dst)
	}
	t.Cleanup(func() { judge = rule.Judge })
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := counts
		counts = map[string]int{}
		return out
	}
}

func judgedKey(arn string, slot int, created time.Time) string {
	return fmt.Sprintf("%s/%d@%s", arn, slot, created.UTC().Truncate(time.Second).Format(time.RFC3339))
}

// pinnedReport serves a credential report read earlier, as IAM does for up to 4 hours, so the
// account can change after it.
type pinnedReport struct {
	*memiam.Client
	report *iam.GetCredentialReportOutput
}

func (p pinnedReport) GetCredentialReport(context.Context, *iam.GetCredentialReportInput, ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	return p.report, nil
}

// The rule runs once per key on every path: a report file (with a repeated row), the live
// report (whose flagged keys the key check confirms live, one used since the report, twins made
// in one second) and --exact. Every key the audit counts, flagged or passing, was judged exactly
// once, and the keys judged are the ones counted.
func TestRuleRunsOncePerKey(t *testing.T) {
	counts := countJudged(t)
	const acct = "111111111111"
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	fake := memiam.New()
	fake.AddAccount(acct, "management")
	want := seed(fake, acct, 3)
	fake.AddUser(acct, memiam.User{Name: "twins", Created: created, Console: true, Keys: []memiam.Key{{ID: "AKIATWIN000000000001", Created: created}, {ID: "AKIATWIN000000000002", Created: created}}})
	fake.AddUser(acct, memiam.User{Name: "usedsince", Created: created, Console: true, Keys: []memiam.Key{{ID: "AKIAUSEDSINCE0000001", Created: created}}})
	self, err := fake.Reach(acct, acct)
	if err != nil {
		t.Fatal(err)
	}
	report, err := self.GetCredentialReport(context.Background(), &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	used := created.Add(time.Hour)
	fake.Update(acct, "usedsince", func(u *memiam.User) { u.Keys[0].LastUsed = &used })
	want["twins/AKIATWIN000000000001"] = setupkeys.StatusFail
	want["twins/AKIATWIN000000000002"] = setupkeys.StatusFail
	want["usedsince/AKIAUSEDSINCE0000001"] = setupkeys.StatusPass
	want["used/AKIAUSED"+acct] = setupkeys.StatusPass
	want["late/AKIALATE"+acct] = setupkeys.StatusPass

	repeated := reportgen.Header + "\n" + strings.Join([]string{
		"alice,arn:aws:iam::123456789012:user/alice,2024-07-30T21:53:09+00:00,true,N/A,N/A,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
		"bob,arn:aws:iam::123456789012:user/bob,2024-07-30T21:53:09+00:00,true,N/A,N/A,N/A,false,true,2024-09-30T21:53:13+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
		"alice,arn:aws:iam::123456789012:user/alice,2024-07-30T21:53:09+00:00,true,N/A,N/A,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,true,2024-07-30T21:55:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
	}, "\n") + "\n"

	clients := Clients{CallerAccount: acct, IAM: func(string) (IAM, error) { return pinnedReport{Client: self, report: report}, nil }}
	tests := []struct {
		name  string
		run   func(cfg Config) (setupkeys.Audit, error)
		keys  int // keys the audit counts
		check bool
	}{
		{name: "report file with a repeated row", keys: 3, run: func(cfg Config) (setupkeys.Audit, error) {
			cfg.Report, cfg.ReportName = strings.NewReader(repeated), "r.csv"
			return Run(context.Background(), cfg, Clients{})
		}},
		{name: "live report", keys: len(want), check: true, run: func(cfg Config) (setupkeys.Audit, error) {
			return Run(context.Background(), cfg, clients)
		}},
		{name: "exact", keys: len(want), check: true, run: func(cfg Config) (setupkeys.Audit, error) {
			cfg.Exact = true
			return Run(context.Background(), cfg, clients)
		}},
	}
	for _, tt := range tests {
		for _, all := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, all %v", tt.name, all), func(t *testing.T) {
				counts()
				audit, err := tt.run(Config{KeepPassing: all})
				if err != nil {
					t.Fatal(err)
				}
				judged := counts()
				res := audit.Accounts[0]
				for key, n := range judged {
					if n != 1 {
						t.Errorf("key %s judged %d times", key, n)
					}
				}
				if n := len(res.Findings); all && n != tt.keys || res.Passed+countFlagged(res) != tt.keys {
					t.Errorf("%d findings, %d passed, want %d keys counted", n, res.Passed, tt.keys)
				}
				for _, f := range res.Findings {
					if judged[judgedKey(f.ARN, f.KeySlot, f.KeyCreated)] != 1 {
						t.Errorf("finding %s/%d was not judged once: %v", f.User, f.KeySlot, judged)
					}
				}
				if len(judged) < tt.keys {
					t.Errorf("%d keys judged, %d counted", len(judged), tt.keys)
				}
				if tt.name == "exact" && !slices.IsSortedFunc(res.Findings, func(a, b setupkeys.Finding) int {
					return cmp.Or(strings.Compare(a.User, b.User), cmp.Compare(a.KeySlot, b.KeySlot))
				}) {
					t.Errorf("exact findings not by user, then slot (the API lists them unsorted here): %v", gotFindings(t, res))
				}
				if tt.name == "live report" && !slices.IsSortedFunc(res.Findings, func(a, b setupkeys.Finding) int { return cmp.Compare(a.ReportLine, b.ReportLine) }) {
					t.Errorf("live report findings not in report order (the confirmed rows come last from the source)")
				}
				// The live report names the passing keys it did not confirm without their IDs.
				if got := gotFindings(t, res); tt.check && (!sameFindings(flaggedOnly(got), flaggedOnly(want)) || tt.name == "exact" && all && !sameFindings(got, want)) {
					t.Errorf("findings %v, want %v", got, want)
				}
			})
		}
	}
}

func countFlagged(r setupkeys.AccountResult) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status != setupkeys.StatusPass {
			n++
		}
	}
	return n
}

func flaggedOnly(m map[string]setupkeys.Status) map[string]setupkeys.Status {
	out := map[string]setupkeys.Status{}
	for k, v := range m {
		if v != setupkeys.StatusPass {
			out[k] = v
		}
	}
	return out
}
