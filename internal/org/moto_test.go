package org_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

// motoOrg creates an organization in moto's default account with two member accounts (through
// organizations create-account, as a person would), and returns the management config and the
// members' IDs by name.
func motoOrg(t *testing.T, srv *moto.Server) (aws.Config, map[string]string) {
	t.Helper()
	ctx := ctxT(t)
	mgmt := srv.Config(t, moto.DefaultAccountID)
	api := organizations.NewFromConfig(mgmt)
	if _, err := api.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	members := map[string]string{}
	for _, name := range []string{"dev", "prod"} {
		out, err := api.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		members[name] = aws.ToString(out.CreateAccountStatus.AccountId)
	}
	return mgmt, members
}

// TestMotoSelectAndAccountConfig: Select lists the organization, and AccountConfig reaches
// each account, which sees its own users only.
func TestMotoSelectAndAccountConfig(t *testing.T) {
	srv := moto.Shared(t)
	mgmt, members := motoOrg(t, srv)
	ctx := ctxT(t)

	accts, err := org.Select(ctx, organizations.NewFromConfig(mgmt), org.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	want := []org.Account{{ID: moto.DefaultAccountID}, {ID: members["dev"], Name: "dev"}, {ID: members["prod"], Name: "prod"}}
	slices.SortFunc(want, func(a, b org.Account) int { return strings.Compare(a.ID, b.ID) })
	if len(accts) != 3 {
		t.Fatalf("Select = %v, want %v", accts, want)
	}
	for i := range want {
		if accts[i].ID != want[i].ID || (want[i].Name != "" && accts[i].Name != want[i].Name) {
			t.Errorf("Select[%d] = %v, want %v", i, accts[i], want[i])
		}
	}

	// Seed one console user with a key in each account through its own config.
	cfgs := map[string]aws.Config{}
	for _, a := range accts {
		cfg, err := org.AccountConfig(mgmt, a.ID, moto.DefaultAccountID, org.RoleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfgs[a.ID] = cfg
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("account %s: %v", a.ID, err)
		}
		if aws.ToString(id.Account) != a.ID {
			t.Fatalf("AccountConfig(%s) reaches account %s", a.ID, aws.ToString(id.Account))
		}
		moto.CreateConsoleUser(t, cfg, "user-"+a.ID)
		moto.CreateAccessKey(t, cfg, "user-"+a.ID)
	}
	for _, a := range accts {
		out, err := iam.NewFromConfig(cfgs[a.ID]).ListUsers(ctx, &iam.ListUsersInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range out.Users {
			names = append(names, aws.ToString(u.UserName))
		}
		if !slices.Equal(names, []string{"user-" + a.ID}) {
			t.Errorf("account %s lists users %v, want only its own", a.ID, names)
		}
	}
}

// TestMotoAuditOrganization runs the whole organization audit against moto: each account's
// setup key is found under the right account, with its key ID.
func TestMotoAuditOrganization(t *testing.T) {
	srv := moto.Shared(t)
	mgmt, _ := motoOrg(t, srv)
	ctx := ctxT(t)
	accts, err := org.Select(ctx, organizations.NewFromConfig(mgmt), org.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{} // account -> key ID
	for _, a := range accts {
		cfg, err := org.AccountConfig(mgmt, a.ID, moto.DefaultAccountID, org.RoleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		moto.CreateConsoleUser(t, cfg, "alice")
		keys[a.ID] = aws.ToString(moto.CreateAccessKey(t, cfg, "alice").AccessKeyId)
		moto.CreateProgrammaticUser(t, cfg, "ci")
		moto.CreateAccessKey(t, cfg, "ci")
	}
	audit := func(ctx context.Context, a org.Account) (setupkeys.AccountResult, error) {
		cfg, err := org.AccountConfig(mgmt, a.ID, moto.DefaultAccountID, org.RoleOptions{})
		if err != nil {
			return setupkeys.AccountResult{}, err
		}
		return pipeline.Account(ctx, iam.NewFromConfig(cfg), a.ID, pipeline.Config{})
	}
	results, err := org.Collect(ctx, accts, org.RunOptions{}, audit)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results", len(results))
	}
	for i, r := range results {
		if r.AccountID != accts[i].ID || r.AccountName != accts[i].Name {
			t.Errorf("result %d is %s %q, want %v", i, r.AccountID, r.AccountName, accts[i])
		}
		if r.Err != nil {
			t.Errorf("account %s: %v", r.AccountID, r.Err)
			continue
		}
		if len(r.Findings) != 1 {
			t.Errorf("account %s: %d findings, want alice's key: %+v", r.AccountID, len(r.Findings), r.Findings)
			continue
		}
		f := r.Findings[0]
		if f.AccountID != r.AccountID || f.User != "alice" || f.Status != setupkeys.StatusFail ||
			aws.ToString(f.AccessKeyID) != keys[r.AccountID] || setupkeys.AccountFromARN(f.ARN) != r.AccountID {
			t.Errorf("account %s: finding %+v, want alice's key %s", r.AccountID, f, keys[r.AccountID])
		}
	}
}

// TestMotoSkipsClosedAccount: an account closed through organizations close-account is SUSPENDED
// in moto (as in AWS after its pending closure) and is skipped with that reason, not audited.
func TestMotoSkipsClosedAccount(t *testing.T) {
	srv := moto.Shared(t)
	mgmt, members := motoOrg(t, srv)
	ctx := ctxT(t)
	api := organizations.NewFromConfig(mgmt)
	if _, err := api.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(members["dev"])}); err != nil {
		t.Fatal(err)
	}
	chosen, err := org.Choose(ctx, api, org.Selection{Exclude: []string{moto.DefaultAccountID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(chosen.Accounts) != 1 || chosen.Accounts[0].ID != members["prod"] {
		t.Errorf("Accounts = %v, want only prod %s", chosen.Accounts, members["prod"])
	}
	want := []setupkeys.SkippedAccount{
		{AccountID: members["dev"], Name: "dev", Reason: setupkeys.SkipSuspended},
		{AccountID: moto.DefaultAccountID, Reason: setupkeys.SkipExcluded},
	}
	slices.SortFunc(want, func(a, b setupkeys.SkippedAccount) int { return strings.Compare(a.AccountID, b.AccountID) })
	if len(chosen.Skipped) != 2 {
		t.Fatalf("Skipped = %v, want %v", chosen.Skipped, want)
	}
	for i := range want {
		g := chosen.Skipped[i]
		if g.AccountID != want[i].AccountID || g.Reason != want[i].Reason || (want[i].Name != "" && g.Name != want[i].Name) {
			t.Errorf("Skipped[%d] = %v, want %v", i, g, want[i])
		}
	}
}
