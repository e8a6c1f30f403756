package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/rule"
	"github.com/setupkeys/setupkeys/internal/suppress"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// seed gives acct n users with a key made at setup and never used (fail), one whose setup key
// was used, one without a console password and one whose key came later (pass), and returns the
// failing keys as "user/keyID".
func seed(f *memiam.Fake, acct string, n int) map[string]setupkeys.Status {
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	used := created.Add(time.Hour)
	want := map[string]setupkeys.Status{}
	for i := range n {
		name, id := fmt.Sprintf("setup-%d", i), fmt.Sprintf("AKIA%s%04d", acct[:12], i)
		f.AddUser(acct, memiam.User{Name: name, Created: created, Console: true, Keys: []memiam.Key{{ID: id, Created: created.Add(time.Second)}}})
		want[name+"/"+id] = setupkeys.StatusFail
	}
	f.AddUser(acct, memiam.User{Name: "used", Created: created, Console: true, Keys: []memiam.Key{{ID: "AKIAUSED" + acct, Created: created, LastUsed: &used}}})
	f.AddUser(acct, memiam.User{Name: "bot", Created: created, Keys: []memiam.Key{{ID: "AKIABOT0" + acct, Created: created}}})
	f.AddUser(acct, memiam.User{Name: "late", Created: created, Console: true, Keys: []memiam.Key{{ID: "AKIALATE" + acct, Created: created.Add(time.Hour)}}})
	return want
}

func gotFindings(t *testing.T, r setupkeys.AccountResult) map[string]setupkeys.Status {
	t.Helper()
	out := map[string]setupkeys.Status{}
	for _, f := range r.Findings {
		if f.AccountID != r.AccountID {
			t.Errorf("finding of %s filed under %s", r.AccountID, f.AccountID)
		}
		out[f.User+"/"+aws.ToString(f.AccessKeyID)] = f.Status
	}
	return out
}

func sameFindings(got, want map[string]setupkeys.Status) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// countingProgress counts what org.Run tells it.
type countingProgress struct{ started, done, finished int }

func (p *countingProgress) Start(n int)                         { p.started = n }
func (p *countingProgress) AccountDone(setupkeys.AccountResult) { p.done++ }
func (p *countingProgress) Finish()                             { p.finished++ }

// The live pipeline over the in-memory IAM, each way a run selects accounts: the caller's
// account alone (report and --exact), the organization with one member denying the role (its
// error is its result, the others are exact), and named accounts without Organizations access.
func TestRunLive(t *testing.T) {
	fake := memiam.New()
	const mgmt, member, denied = "111111111111", "222222222222", "333333333333"
	fake.AddAccount(mgmt, "management")
	fake.AddAccount(member, "dev")
	fake.AddAccount(denied, "locked")
	fake.DenyRole(denied, true)
	want := map[string]map[string]setupkeys.Status{}
	for i, acct := range []string{mgmt, member, denied} {
		want[acct] = seed(fake, acct, 3+i)
	}
	listings := 0
	clients := Clients{
		CallerAccount: mgmt,
		IAM:           func(account string) (IAM, error) { return fake.Reach(mgmt, account) },
		Organizations: func() org.OrganizationsAPI { listings++; return fake.Organizations() },
	}

	tests := []struct {
		name       string
		exact      bool
		accounts   *Accounts
		wantOK     []string
		wantErrors []string
		// wantSkipped are the accounts the selection left out, as "ID reason".
		wantSkipped []string
	}{
		{name: "caller's account", wantOK: []string{mgmt}},
		{name: "caller's account, exact", exact: true, wantOK: []string{mgmt}},
		{name: "organization", accounts: &Accounts{Organization: true}, wantOK: []string{mgmt, member}, wantErrors: []string{denied}},
		{name: "named accounts, no Organizations call", accounts: &Accounts{Selection: org.Selection{Accounts: []string{member, denied}}}, wantOK: []string{member}, wantErrors: []string{denied}},
		{name: "organization, exact, one excluded", exact: true, accounts: &Accounts{Organization: true, Selection: org.Selection{Exclude: []string{denied}}}, wantOK: []string{mgmt, member}, wantSkipped: []string{denied + " locked " + setupkeys.SkipExcluded}},
		{name: "named accounts, one excluded", accounts: &Accounts{Selection: org.Selection{Accounts: []string{member, denied}, Exclude: []string{denied}}}, wantOK: []string{member}, wantSkipped: []string{denied + "  " + setupkeys.SkipExcluded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var progress countingProgress
			if tt.accounts != nil {
				tt.accounts.Progress = &progress
			}
			listings = 0
			audit, err := Run(context.Background(), Config{Exact: tt.exact, Accounts: tt.accounts}, clients)
			if err != nil {
				t.Fatal(err)
			}
			if audit.CallerAccount != mgmt || audit.Window != rule.DefaultWindow {
				t.Errorf("caller %q window %s", audit.CallerAccount, audit.Window)
			}
			if n := len(tt.wantOK) + len(tt.wantErrors); len(audit.Accounts) != n {
				t.Fatalf("%d account results, want %d", len(audit.Accounts), n)
			}
			var skipped []string
			for _, s := range audit.Skipped {
				skipped = append(skipped, s.AccountID+" "+s.Name+" "+s.Reason)
			}
			if !slices.Equal(skipped, tt.wantSkipped) {
				t.Errorf("skipped %q, want %q", skipped, tt.wantSkipped)
			}
			byID := map[string]setupkeys.AccountResult{}
			for _, r := range audit.Accounts {
				byID[r.AccountID] = r
			}
			for _, id := range tt.wantOK {
				r := byID[id]
				if r.Err != nil || !sameFindings(gotFindings(t, r), want[id]) {
					t.Errorf("account %s: err %v, findings %v, want %v", id, r.Err, gotFindings(t, r), want[id])
				}
			}
			for _, id := range tt.wantErrors {
				if r := byID[id]; r.Err == nil {
					t.Errorf("account %s: no error, want the denied role's", id)
				}
			}
			if tt.accounts != nil && (progress.started != len(audit.Accounts) || progress.done != len(audit.Accounts) || progress.finished != 1) {
				t.Errorf("progress %+v for %d accounts", progress, len(audit.Accounts))
			}
			if wantOrg := tt.accounts != nil && tt.accounts.Organization; (listings > 0) != wantOrg {
				t.Errorf("%d Organizations clients made; want one: %v", listings, wantOrg)
			}
		})
	}
}

// A single-account audit that cannot reach its account is the run's error, not a result.
func TestRunLiveAccountError(t *testing.T) {
	boom := errors.New("no credentials")
	clients := Clients{CallerAccount: "123456789012", IAM: func(string) (IAM, error) { return nil, boom }}
	if _, err := Run(context.Background(), Config{}, clients); !errors.Is(err, boom) {
		t.Errorf("err %v, want %v", err, boom)
	}
	if _, err := Run(context.Background(), Config{}, Clients{}); err == nil {
		t.Error("a live audit without clients ran")
	}
}

func passing(a setupkeys.Audit) int {
	n := 0
	for _, r := range a.Accounts {
		for _, f := range r.Findings {
			if f.Status == setupkeys.StatusPass {
				n++
			}
		}
	}
	return n
}

// A report file: the rule with the configured window, passing keys kept only when asked, and
// the suppressions applied (tag rules cannot match a file and say so).
func TestRunReportFile(t *testing.T) {
	data, err := os.ReadFile("../../examples/credential-report.csv")
	if err != nil {
		t.Fatal(err)
	}
	supp, err := suppress.Parse(strings.NewReader("suppressions:\n  - user: alice.martin\n    reason: break-glass user, keys reviewed\n"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base, err := Run(context.Background(), Config{Report: strings.NewReader(string(data)), ReportName: "r.csv"}, Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Accounts) != 1 || base.Accounts[0].Source.File != "r.csv" || base.Accounts[0].Source.Kind != setupkeys.SourceReportFile {
		t.Fatalf("accounts %+v", base.Accounts)
	}
	baseCounts := base.Count()
	if baseCounts[setupkeys.StatusFail] == 0 || baseCounts[setupkeys.StatusPass] == 0 || passing(base) != 0 {
		t.Fatalf("counts %v, %d passing findings: the example should fail and pass keys, and list no pass without KeepPassing", baseCounts, passing(base))
	}

	all, err := Run(context.Background(), Config{Report: strings.NewReader(string(data)), ReportName: "r.csv", KeepPassing: true}, Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if passing(all) != baseCounts[setupkeys.StatusPass] {
		t.Errorf("KeepPassing kept %d passing findings, want %d", passing(all), baseCounts[setupkeys.StatusPass])
	}

	narrow, err := Run(context.Background(), Config{Report: strings.NewReader(string(data)), ReportName: "r.csv", Rule: rule.Options{Window: time.Second}}, Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if narrow.Window != time.Second || narrow.Count()[setupkeys.StatusFail] >= baseCounts[setupkeys.StatusFail] {
		t.Errorf("a 1s window: window %s, %d fails, want fewer than %d", narrow.Window, narrow.Count()[setupkeys.StatusFail], baseCounts[setupkeys.StatusFail])
	}

	suppressed, err := Run(context.Background(), Config{Report: strings.NewReader(string(data)), ReportName: "r.csv", Suppressions: supp, Now: func() time.Time { return now }}, Clients{})
	if err != nil {
		t.Fatal(err)
	}
	if !suppressed.StartedAt.Equal(now) {
		t.Errorf("started %s, want the injected clock's %s", suppressed.StartedAt, now)
	}
	covered := 0
	for _, f := range suppressed.Accounts[0].Findings {
		if f.User == "alice.martin" {
			if f.Status != setupkeys.StatusSuppressed || f.Suppression == nil {
				t.Errorf("alice's finding %s is not suppressed", f.ID)
			}
			covered++
		} else if f.Suppression != nil {
			t.Errorf("%s's finding is suppressed", f.User)
		}
	}
	if covered == 0 {
		t.Error("the example has no finding for alice: the suppression test tests nothing")
	}

	if _, err := Run(context.Background(), Config{Report: strings.NewReader("user,arn\n"), ReportName: "bad.csv"}, Clients{}); err == nil || !strings.Contains(err.Error(), "bad.csv") {
		t.Errorf("a report without the needed columns: err %v, want one naming bad.csv", err)
	}
}
