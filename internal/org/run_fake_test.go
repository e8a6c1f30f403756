package org_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/source"
	"github.com/setupkeys/setupkeys/internal/testenv/fakeaws"
)

// liveAudit is the audit the CLI runs per account: the account's credentials (its own or an
// assumed role), then the live credential report path.
func liveAudit(base aws.Config, caller string, role org.RoleOptions) org.AuditFunc {
	return func(ctx context.Context, a org.Account) (setupkeys.AccountResult, error) {
		cfg, err := org.AccountConfig(base, a.ID, caller, role)
		if err != nil {
			return setupkeys.AccountResult{}, err
		}
		return pipeline.Account(ctx, iam.NewFromConfig(cfg), a.ID, pipeline.Config{Live: source.LiveOptions{PollInterval: 5 * time.Millisecond}})
	}
}

// expectFindings is what the rule must find in generated accounts: account/user/key ID -> status.
func expectFindings(accts ...fakeaws.SeededAccount) map[string]setupkeys.Status {
	out := map[string]setupkeys.Status{}
	for _, a := range accts {
		for _, g := range a.Users {
			k, st, ok := g.Flagged()
			if !ok {
				continue
			}
			out[a.ID+"/"+g.User.Name+"/"+k.ID] = st
		}
	}
	return out
}

func gotFindings(t *testing.T, results ...setupkeys.AccountResult) map[string]setupkeys.Status {
	t.Helper()
	out := map[string]setupkeys.Status{}
	for _, r := range results {
		for _, f := range r.Findings {
			if f.AccountID != r.AccountID || f.AccountName != r.AccountName || f.AccountName == "" {
				t.Errorf("finding %s of account %s (%s) carries account %s (%s)", f.ID, r.AccountID, r.AccountName, f.AccountID, f.AccountName)
			}
			if setupkeys.AccountFromARN(f.ARN) != r.AccountID {
				t.Errorf("finding for %s under account %s", f.ARN, r.AccountID)
			}
			out[f.AccountID+"/"+f.User+"/"+aws.ToString(f.AccessKeyID)] = f.Status
		}
	}
	return out
}

func diffFindings(t *testing.T, got, want map[string]setupkeys.Status) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s: got %q, want %q", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %q", k, got[k])
		}
	}
}

func seedMgmt(srv *fakeaws.Server, users int) fakeaws.SeededAccount {
	return fakeaws.SeededAccount{
		ID:    srv.ManagementAccount(),
		Name:  "management",
		Users: srv.SeedUsers(srv.ManagementAccount(), fakeaws.GenerateOptions{Seed: 99, N: users}),
	}
}

// TestRunOrganization audits a whole organization: the management account with the caller's
// credentials, every member through its role; one member denies AssumeRole and one is
// suspended.
func TestRunOrganization(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	mgmt := seedMgmt(srv, 20)
	members := srv.SeedOrganization(fakeaws.OrgSpec{Accounts: 7, UsersPerAccount: 30, Seed: 1, SuspendedEvery: 7})
	denied := members[2].ID
	if err := srv.UpdateAccount(denied, func(c *fakeaws.AccountConfig) { c.DenyAssumeRole = true }); err != nil {
		t.Fatal(err)
	}
	base := mgmtConfig(srv)
	ctx := ctxT(t)

	accts, err := org.Select(ctx, organizations.NewFromConfig(base), org.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 7 { // the management account and 6 active members
		t.Fatalf("selected %v", accts)
	}
	srv.ResetCalls()
	results, err := org.Collect(ctx, accts, org.RunOptions{Concurrency: 3}, liveAudit(base, srv.ManagementAccount(), org.RoleOptions{}))
	if err != nil {
		t.Fatal(err)
	}

	var okResults []setupkeys.AccountResult
	want := expectFindings(mgmt)
	for i, r := range results {
		if r.AccountID != accts[i].ID {
			t.Fatalf("result %d is account %s, want %s (sorted by ID)", i, r.AccountID, accts[i].ID)
		}
		if r.AccountID == denied {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "AccessDenied") || !strings.Contains(r.Err.Error(), "arn:aws:iam::"+denied+":role/OrganizationAccountAccessRole") {
				t.Errorf("denied account: Err = %v", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("account %s: %v", r.AccountID, r.Err)
		}
		okResults = append(okResults, r)
	}
	for _, m := range members {
		if m.ID != denied && m.Status == "ACTIVE" {
			maps.Copy(want, expectFindings(m))
		}
	}
	if len(want) < 30 {
		t.Fatalf("only %d expected findings: the seed makes too few", len(want))
	}
	diffFindings(t, gotFindings(t, okResults...), want)
	if !(setupkeys.Audit{Accounts: results}).Failed() {
		t.Error("Audit.Failed() = false with an account denied")
	}

	// The management account is audited with the caller's own credentials; each member's
	// role is assumed once and its credentials reused for every call.
	if n := srv.Calls(srv.ManagementAccount())["AssumeRole"]; n != 0 {
		t.Errorf("AssumeRole into the management account %d times", n)
	}
	for _, a := range accts[1:] {
		if n := srv.Calls(a.ID)["AssumeRole"]; n != 1 {
			t.Errorf("AssumeRole into %s %d times, want 1", a.ID, n)
		}
	}
}

// TestRunThrottlingStorm: 30% of every call (Organizations, STS, IAM) is throttled; the SDK's
// retries make the results exact.
func TestRunThrottlingStorm(t *testing.T) {
	srv := newFake(t, fakeaws.Options{ThrottleRate: 0.3, Seed: 7})
	mgmt := seedMgmt(srv, 25)
	members := srv.SeedOrganization(fakeaws.OrgSpec{Accounts: 8, UsersPerAccount: 40, Seed: 11})
	base := mgmtConfig(srv)
	ctx := ctxT(t)
	accts, err := org.Select(ctx, organizations.NewFromConfig(base), org.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	results, err := org.Collect(ctx, accts, org.RunOptions{Concurrency: 4}, liveAudit(base, srv.ManagementAccount(), org.RoleOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("account %s: %v", r.AccountID, r.Err)
		}
	}
	diffFindings(t, gotFindings(t, results...), expectFindings(append(members, mgmt)...))
	faults := 0
	for _, a := range accts {
		for _, n := range srv.Faults(a.ID) {
			faults += n
		}
	}
	if faults < 50 {
		t.Errorf("only %d calls throttled: the storm did not happen", faults)
	}
	if srv.Faults(members[0].ID)["AssumeRole"]+srv.Faults(members[1].ID)["AssumeRole"]+srv.Faults(members[2].ID)["AssumeRole"] == 0 {
		t.Log("no AssumeRole was throttled in the first three members")
	}
}

// TestRunReportNeverCompletes: one account's credential report stays in progress; its deadline
// ends it with an error and the others complete.
func TestRunReportNeverCompletes(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	members := srv.SeedOrganization(fakeaws.OrgSpec{Accounts: 4, UsersPerAccount: 10, Seed: 5})
	stuck := members[1].ID
	srv.SetErrorHook(func(action, account string) string {
		if account == stuck && action == "GetCredentialReport" {
			return "ReportInProgress"
		}
		return ""
	})
	base := mgmtConfig(srv)
	accts := []org.Account{}
	for _, m := range members {
		accts = append(accts, org.Account{ID: m.ID, Name: m.Name})
	}
	start := time.Now()
	results, err := org.Collect(ctxT(t), accts, org.RunOptions{PerAccountTimeout: 3 * time.Second}, liveAudit(base, srv.ManagementAccount(), org.RoleOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s", d)
	}
	var ok []setupkeys.AccountResult
	var okSeeded []fakeaws.SeededAccount
	for i, r := range results {
		if r.AccountID == stuck {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "timed out after 3s") || !strings.Contains(r.Err.Error(), "ReportInProgress") {
				t.Errorf("stuck account: Err = %v", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("account %s: %v", r.AccountID, r.Err)
		}
		ok = append(ok, r)
		okSeeded = append(okSeeded, members[i])
	}
	diffFindings(t, gotFindings(t, ok...), expectFindings(okSeeded...))
}

// TestRunRoleOptions: a custom role name, a role ARN template and an external ID reach the
// accounts that require them; the wrong ones are denied.
func TestRunRoleOptions(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	members := srv.SeedOrganization(fakeaws.OrgSpec{Accounts: 2, UsersPerAccount: 10, Seed: 2})
	for _, m := range members {
		if err := srv.UpdateAccount(m.ID, func(c *fakeaws.AccountConfig) { c.RoleName, c.ExternalID = "Audit", "ext-42" }); err != nil {
			t.Fatal(err)
		}
	}
	accts := []org.Account{{ID: members[0].ID, Name: members[0].Name}, {ID: members[1].ID, Name: members[1].Name}}
	base := mgmtConfig(srv)
	for _, c := range []struct {
		name string
		role org.RoleOptions
		ok   bool
	}{
		{"name", org.RoleOptions{Name: "Audit", ExternalID: "ext-42"}, true},
		{"template", org.RoleOptions{ARNTemplate: "arn:{partition}:iam::{account}:role/security/Audit", ExternalID: "ext-42"}, true},
		{"default role", org.RoleOptions{ExternalID: "ext-42"}, false},
		{"no external ID", org.RoleOptions{Name: "Audit"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.role.Validate(); err != nil {
				t.Fatal(err)
			}
			results, err := org.Collect(ctxT(t), accts, org.RunOptions{}, liveAudit(base, srv.ManagementAccount(), c.role))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if c.ok && r.Err != nil {
					t.Errorf("account %s: %v", r.AccountID, r.Err)
				}
				if !c.ok && (r.Err == nil || !strings.Contains(r.Err.Error(), "AccessDenied")) {
					t.Errorf("account %s: Err = %v, want AccessDenied", r.AccountID, r.Err)
				}
			}
			if c.ok {
				diffFindings(t, gotFindings(t, results...), expectFindings(members...))
			}
		})
	}
}

// TestRunConcurrencyOnTheWire counts requests in flight at the server: with one call at a time
// per account, at most Concurrency requests are ever in flight.
func TestRunConcurrencyOnTheWire(t *testing.T) {
	srv := newFake(t, fakeaws.Options{Latency: 15 * time.Millisecond})
	members := srv.SeedOrganization(fakeaws.OrgSpec{Accounts: 12, UsersPerAccount: 10, Seed: 3})
	accts := make([]org.Account, len(members))
	for i, m := range members {
		accts[i] = org.Account{ID: m.ID, Name: m.Name}
	}
	base := mgmtConfig(srv)
	audit := func(ctx context.Context, a org.Account) (setupkeys.AccountResult, error) {
		cfg, err := org.AccountConfig(base, a.ID, srv.ManagementAccount(), org.RoleOptions{})
		if err != nil {
			return setupkeys.AccountResult{}, err
		}
		return pipeline.Account(ctx, iam.NewFromConfig(cfg), a.ID, pipeline.Config{Live: source.LiveOptions{Concurrency: 1, PollInterval: time.Millisecond}})
	}
	const limit = 3
	srv.ResetCalls()
	results, err := org.Collect(ctxT(t), accts, org.RunOptions{Concurrency: limit}, audit)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("account %s: %v", r.AccountID, r.Err)
		}
	}
	if got := srv.MaxInFlight(); got > limit || got < 2 {
		t.Errorf("at most %d requests in flight, want between 2 and %d", got, limit)
	}
	diffFindings(t, gotFindings(t, results...), expectFindings(members...))
}

func TestRunFindingsCarryAccountNames(t *testing.T) {
	srv := newFake(t, fakeaws.Options{})
	members := srv.SeedOrganization(fakeaws.OrgSpec{Accounts: 2, UsersPerAccount: 20, Seed: 4})
	base := mgmtConfig(srv)
	accts, err := org.Select(ctxT(t), organizations.NewFromConfig(base), org.Selection{Exclude: []string{srv.ManagementAccount()}})
	if err != nil {
		t.Fatal(err)
	}
	results, err := org.Collect(ctxT(t), accts, org.RunOptions{}, liveAudit(base, srv.ManagementAccount(), org.RoleOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.AccountName != members[i].Name || len(r.Findings) == 0 {
			t.Errorf("account %s: name %q, %d findings", r.AccountID, r.AccountName, len(r.Findings))
		}
		for _, f := range r.Findings {
			if f.AccountName != members[i].Name || f.AccountID != members[i].ID {
				t.Errorf("finding %s: account %s %q", f.ID, f.AccountID, f.AccountName)
			}
			// Only keys created in one second (none here) carry a slot suffix.
			if want := setupkeys.FindingID(f.AccountID, f.ARN, 0, f.KeyCreated); f.ID != want {
				t.Errorf("finding ID %s, want %s", f.ID, want)
			}
		}
	}
}
