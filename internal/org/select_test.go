package org_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newFake(t *testing.T, o fakeaws.Options) *fakeaws.Server {
	t.Helper()
	srv := fakeaws.New(o)
	t.Cleanup(srv.Close)
	return srv
}

// fastRetryer is the CLI's retryer (10 tries, no retry quota) with millisecond backoff, so that
// throttling tests run quickly.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 10
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
			return time.Duration(1+rand.IntN(5)) * time.Millisecond, nil
		})
	})
}

// mgmtConfig is the caller's config: the management account's base credentials.
func mgmtConfig(srv *fakeaws.Server) aws.Config {
	cfg := srv.Config(srv.ManagementAccount())
	cfg.Retryer = fastRetryer
	return cfg
}

func ids(accts []org.Account) []string {
	out := make([]string, len(accts))
	for i, a := range accts {
		out[i] = a.ID
	}
	return out
}

func acctID(i int) string { return fmt.Sprintf("%012d", 200000000000+i) }

// TestSelectWholeOrganization lists more accounts than one page holds (the fake, like AWS,
// returns at most 20 a page), some of them suspended.
func TestSelectWholeOrganization(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	want := []string{srv.ManagementAccount()}
	var wantSkipped []setupkeys.SkippedAccount
	for i := range 45 {
		status := "ACTIVE"
		switch {
		case i%10 == 9:
			status = "SUSPENDED"
			wantSkipped = append(wantSkipped, setupkeys.SkippedAccount{AccountID: acctID(i), Name: fmt.Sprintf("member-%02d", i), Reason: setupkeys.SkipSuspended})
		case i == 12:
			status = "PENDING_CLOSURE"
			wantSkipped = append(wantSkipped, setupkeys.SkippedAccount{AccountID: acctID(i), Name: "member-12", Reason: setupkeys.SkipPendingClosure})
		default:
			want = append(want, acctID(i))
		}
		srv.AddAccountConfig(acctID(i), fakeaws.AccountConfig{Name: fmt.Sprintf("member-%02d", i), Status: status})
	}
	slices.Sort(want)
	slices.SortFunc(wantSkipped, func(a, b setupkeys.SkippedAccount) int { return strings.Compare(a.AccountID, b.AccountID) })

	chosen, err := org.Choose(ctxT(t), organizations.NewFromConfig(mgmtConfig(srv)), org.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	got := chosen.Accounts
	if !slices.Equal(chosen.Skipped, wantSkipped) {
		t.Errorf("Skipped = %v\nwant %v", chosen.Skipped, wantSkipped)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("Select = %v\nwant %v", ids(got), want)
	}
	for _, a := range got {
		if a.ID != srv.ManagementAccount() && a.Name != fmt.Sprintf("member-%02d", must(t, a.ID)) {
			t.Errorf("account %s named %q", a.ID, a.Name)
		}
	}
	if n := srv.Calls(srv.ManagementAccount())["ListAccounts"]; n != 3 {
		t.Errorf("ListAccounts called %d times, want 3 pages", n)
	}
}

func must(t *testing.T, id string) int {
	var n int
	if _, err := fmt.Sscanf(id, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n - 200000000000
}

func TestSelectExclude(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	for i := range 5 {
		srv.AddAccount(acctID(i), "", "")
	}
	srv.AddAccountConfig(acctID(5), fakeaws.AccountConfig{Name: "gone", Status: "SUSPENDED"})
	chosen, err := org.Choose(ctxT(t), organizations.NewFromConfig(mgmtConfig(srv)), org.Selection{
		Exclude: []string{acctID(1), srv.ManagementAccount(), "999999999999", acctID(5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{acctID(0), acctID(2), acctID(3), acctID(4)}; !slices.Equal(ids(chosen.Accounts), want) {
		t.Errorf("Select = %v, want %v", ids(chosen.Accounts), want)
	}
	// An excluded account that is not in the organization is not listed; a suspended one that is
	// also excluded is listed once, as suspended.
	wantSkipped := []setupkeys.SkippedAccount{
		{AccountID: srv.ManagementAccount(), Reason: setupkeys.SkipExcluded},
		{AccountID: acctID(1), Reason: setupkeys.SkipExcluded},
		{AccountID: acctID(5), Name: "gone", Reason: setupkeys.SkipSuspended},
	}
	slices.SortFunc(wantSkipped, func(a, b setupkeys.SkippedAccount) int { return strings.Compare(a.AccountID, b.AccountID) })
	if len(chosen.Skipped) != len(wantSkipped) {
		t.Fatalf("Skipped = %v\nwant %v", chosen.Skipped, wantSkipped)
	}
	for i, w := range wantSkipped {
		if g := chosen.Skipped[i]; g.AccountID != w.AccountID || g.Reason != w.Reason || (w.Name != "" && g.Name != w.Name) {
			t.Errorf("Skipped[%d] = %v, want %v", i, g, w)
		}
	}

	// Excluding everything is an error that says what was left out.
	_, err = org.Choose(ctxT(t), organizations.NewFromConfig(mgmtConfig(srv)), org.Selection{
		Exclude: []string{srv.ManagementAccount(), acctID(0), acctID(1), acctID(2), acctID(3), acctID(4)},
	})
	if err == nil || !strings.Contains(err.Error(), "(6 excluded, 1 suspended)") {
		t.Errorf("everything excluded: err = %v", err)
	}
}

// TestSelectOUs walks OUs recursively, through more child OUs and more accounts than one page
// holds, without listing an account twice when a parent and its child are both named.
func TestSelectOUs(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	var workloads, many []string
	n := 0
	add := func(path string) string {
		id := acctID(n)
		n++
		srv.AddAccount(id, "m-"+id, path)
		return id
	}
	for range 22 {
		workloads = append(workloads, add("Workloads/Prod"))
	}
	workloads = append(workloads, add("Workloads/Dev"), add("Workloads"), add("Workloads/Dev/Deep/Deeper"))
	suspended := add("Workloads/Dev")
	if err := srv.UpdateAccount(suspended, func(c *fakeaws.AccountConfig) { c.Status = "SUSPENDED" }); err != nil {
		t.Fatal(err)
	}
	add("Sandbox")
	add("")
	for i := range 25 {
		many = append(many, add(fmt.Sprintf("Many/ou-%02d", i)))
	}
	wl, _ := srv.OUID("Workloads")
	dev, _ := srv.OUID("Workloads/Dev")
	manyID, _ := srv.OUID("Many")
	api := organizations.NewFromConfig(mgmtConfig(srv))

	chosen, err := org.Choose(ctxT(t), api, org.Selection{OUs: []string{dev, wl}, Exclude: []string{workloads[0]}})
	if err != nil {
		t.Fatal(err)
	}
	wantSkipped := []setupkeys.SkippedAccount{{AccountID: workloads[0], Name: "m-" + workloads[0], Reason: setupkeys.SkipExcluded}, {AccountID: suspended, Name: "m-" + suspended, Reason: setupkeys.SkipSuspended}}
	if !slices.Equal(chosen.Skipped, wantSkipped) {
		t.Errorf("Skipped = %v, want %v", chosen.Skipped, wantSkipped)
	}
	got := append([]org.Account{{ID: workloads[0], Name: "m-" + workloads[0]}}, chosen.Accounts...)
	slices.Sort(workloads)
	if !slices.Equal(ids(got), workloads) {
		t.Errorf("Select(Workloads, Workloads/Dev) = %v\nwant %v", ids(got), workloads)
	}
	for _, a := range got {
		if a.Name != "m-"+a.ID {
			t.Errorf("account %s named %q", a.ID, a.Name)
		}
	}

	srv.ResetCalls()
	got, err = org.Select(ctxT(t), api, org.Selection{OUs: []string{manyID}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), many) {
		t.Errorf("Select(Many) = %v\nwant %v", ids(got), many)
	}
	if n := srv.Calls(srv.ManagementAccount())["ListOrganizationalUnitsForParent"]; n < 2+25 {
		t.Errorf("ListOrganizationalUnitsForParent called %d times; 25 child OUs take 2 pages, plus one call per child", n)
	}

	// The root is the whole organization.
	got, err = org.Select(ctxT(t), api, org.Selection{OUs: []string{srv.RootID()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n-1+1 { // every account but the suspended one, plus the management account
		t.Errorf("Select(root) = %d accounts, want %d", len(got), n)
	}

	// --accounts within an OU: only those, and one outside the OU is an error.
	got, err = org.Select(ctxT(t), api, org.Selection{OUs: []string{wl}, Accounts: []string{workloads[3]}})
	if err != nil || !slices.Equal(ids(got), []string{workloads[3]}) {
		t.Errorf("Select(Workloads, --accounts %s) = %v, %v", workloads[3], ids(got), err)
	}
	_, err = org.Select(ctxT(t), api, org.Selection{OUs: []string{wl}, Accounts: []string{many[0]}})
	if err == nil || !strings.Contains(err.Error(), many[0]) || !strings.Contains(err.Error(), wl) {
		t.Errorf("an account outside the OU: err = %v", err)
	}

	_, err = org.Select(ctxT(t), api, org.Selection{OUs: []string{"ou-zzzz-zzzzzzzz"}})
	if err == nil || !strings.Contains(err.Error(), "ParentNotFound") {
		t.Errorf("unknown OU: err = %v", err)
	}
}

func TestSelectAccounts(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	srv.AddAccount(acctID(1), "one", "")
	srv.AddAccount(acctID(2), "two", "")
	srv.AddAccountConfig(acctID(3), fakeaws.AccountConfig{Name: "gone", Status: "SUSPENDED"})
	api := organizations.NewFromConfig(mgmtConfig(srv))
	sel := org.Selection{Accounts: []string{acctID(2), acctID(1), acctID(2)}}

	// With Organizations: names from the listing.
	got, err := org.Select(ctxT(t), api, sel)
	if err != nil {
		t.Fatal(err)
	}
	if want := []org.Account{{ID: acctID(1), Name: "one"}, {ID: acctID(2), Name: "two"}}; !slices.Equal(got, want) {
		t.Errorf("Select = %v, want %v", got, want)
	}
	_, err = org.Select(ctxT(t), api, org.Selection{Accounts: []string{acctID(3)}})
	if err == nil || !strings.Contains(err.Error(), acctID(3)+" is suspended, not an ACTIVE account") {
		t.Errorf("a suspended account: err = %v", err)
	}

	// Without Organizations access (a nil API): no call, names unknown.
	srv.ResetCalls()
	got, err = org.Select(ctxT(t), nil, sel)
	if err != nil {
		t.Fatal(err)
	}
	if want := []org.Account{{ID: acctID(1)}, {ID: acctID(2)}}; !slices.Equal(got, want) {
		t.Errorf("Select without Organizations = %v, want %v", got, want)
	}
	if calls := srv.TotalCalls(); len(calls) != 0 {
		t.Errorf("calls without Organizations: %v", calls)
	}

	// A member account's credentials: ListAccounts is denied, the accounts are used as given.
	memberAPI := organizations.NewFromConfig(srv.Config(acctID(1)))
	got, err = org.Select(ctxT(t), memberAPI, sel)
	if err != nil {
		t.Fatal(err)
	}
	if want := []org.Account{{ID: acctID(1)}, {ID: acctID(2)}}; !slices.Equal(got, want) {
		t.Errorf("Select from a member = %v, want %v", got, want)
	}
	// ... but the whole organization needs the listing.
	if _, err = org.Select(ctxT(t), memberAPI, org.Selection{}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("Select(everything) from a member: err = %v", err)
	}
}

func TestSelectNoOrganization(t *testing.T) {
	srv := newFake(t, fakeaws.Options{NoOrganization: true})
	api := organizations.NewFromConfig(mgmtConfig(srv))
	got, err := org.Select(ctxT(t), api, org.Selection{Accounts: []string{acctID(7)}})
	if err != nil || !slices.Equal(ids(got), []string{acctID(7)}) {
		t.Errorf("--accounts without an organization = %v, %v", got, err)
	}
	if _, err := org.Select(ctxT(t), api, org.Selection{}); err == nil || !strings.Contains(err.Error(), "AWSOrganizationsNotInUseException") {
		t.Errorf("whole organization without one: err = %v", err)
	}
}

func TestSelectThrottled(t *testing.T) {
	srv := newFake(t, fakeaws.Options{ThrottleRate: 0.4, Seed: 3})
	for i := range 50 {
		srv.AddAccount(acctID(i), "", fmt.Sprintf("OU%d", i%3))
	}
	got, err := org.Select(ctxT(t), organizations.NewFromConfig(mgmtConfig(srv)), org.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 51 {
		t.Errorf("%d accounts, want 51", len(got))
	}
	root := srv.RootID()
	got, err = org.Select(ctxT(t), organizations.NewFromConfig(mgmtConfig(srv)), org.Selection{OUs: []string{root}})
	if err != nil || len(got) != 51 {
		t.Errorf("Select(root) = %d accounts, %v", len(got), err)
	}
	if srv.Faults(srv.ManagementAccount())["ListAccounts"] == 0 {
		t.Error("no ListAccounts call was throttled: the test proves nothing")
	}
}

func TestSelectionValidate(t *testing.T) {
	for _, c := range []struct {
		sel  org.Selection
		want string
	}{
		{org.Selection{Accounts: []string{"12345678901"}}, `--accounts: "12345678901" is not an AWS account ID`},
		{org.Selection{Accounts: []string{"1234567890123"}}, `is not an AWS account ID`},
		{org.Selection{Exclude: []string{"abc"}}, `--exclude-accounts: "abc"`},
		{org.Selection{OUs: []string{"ou-1"}}, `--ou: "ou-1" is not an organizational unit ID`},
		{org.Selection{OUs: []string{"OU-AB12-CD34EF56"}}, `is not an organizational unit ID`},
		{org.Selection{Accounts: []string{"111111111111"}, Exclude: []string{"111111111111"}}, "excludes every account"},
		{org.Selection{Accounts: []string{"111111111111"}, OUs: []string{"ou-ab12-cd34ef56", "r-ab12"}}, ""},
	} {
		err := c.sel.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.sel, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.sel, err, c.want)
		}
		if _, err := org.Select(context.Background(), nil, c.sel); err == nil {
			t.Errorf("Select(%+v) accepted it", c.sel)
		}
	}
	if _, err := org.Select(context.Background(), nil, org.Selection{OUs: []string{"ou-ab12-cd34ef56"}}); err == nil || !strings.Contains(err.Error(), "Organizations access") {
		t.Errorf("--ou without an API: err = %v", err)
	}
	if _, err := org.Select(context.Background(), nil, org.Selection{}); err == nil {
		t.Error("nothing selected and no API: no error")
	}
}
