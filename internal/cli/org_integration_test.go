package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// motoOrganization creates an organization in moto's default account with members of the given
// names (organizations create-account, as a person would) and returns their IDs by name.
func motoOrganization(t *testing.T, srv *moto.Server, names ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	api := organizations.NewFromConfig(srv.Config(t, moto.DefaultAccountID))
	if _, err := api.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range names {
		out, err := api.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = aws.ToString(out.CreateAccountStatus.AccountId)
	}
	return ids
}

// audit --org against moto with a closed (SUSPENDED) member and an excluded one: both are counted
// and listed, in JSON, in the table and on stderr beside CSV, and neither is audited.
func TestAuditOrgSkippedAccountsAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	ids := motoOrganization(t, srv, "dev", "old", "sandbox")
	if _, err := organizations.NewFromConfig(srv.Config(t, moto.DefaultAccountID)).CloseAccount(context.Background(),
		&organizations.CloseAccountInput{AccountId: aws.String(ids["old"])}); err != nil {
		t.Fatal(err)
	}
	useEnv(t, srv, moto.DefaultAccountID)
	args := []string{"audit", "--org", "--exclude-accounts", ids["sandbox"], "--quiet"}

	code, out, errOut := runCLI(t, "", append(args, "--format", "json")...)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]setupkeys.SkippedAccount{
		ids["old"]:     {AccountID: ids["old"], Name: "old", Reason: setupkeys.SkipSuspended},
		ids["sandbox"]: {AccountID: ids["sandbox"], Name: "sandbox", Reason: setupkeys.SkipExcluded},
	}
	if doc.Summary.Accounts != 2 || doc.Summary.AccountsSkipped != 2 || len(doc.SkippedAccounts) != 2 {
		t.Fatalf("summary %+v, skipped %+v", doc.Summary, doc.SkippedAccounts)
	}
	for _, s := range doc.SkippedAccounts {
		if s != want[s.AccountID] {
			t.Errorf("skipped %+v, want %+v", s, want[s.AccountID])
		}
	}
	for _, a := range doc.Accounts {
		if _, skipped := want[a.AccountID]; skipped {
			t.Errorf("skipped account %s was audited", a.AccountID)
		}
	}

	code, out, errOut = runCLI(t, "", args...)
	if code != ExitOK {
		t.Fatalf("table: exit %d\n%s", code, errOut)
	}
	for _, w := range []string{"2 accounts, 2 skipped)", "2 accounts skipped (not audited):\n",
		"  " + ids["old"] + " (old): suspended (only ACTIVE accounts are audited)\n", "  " + ids["sandbox"] + " (sandbox): excluded (--exclude-accounts)\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}

	code, out, errOut = runCLI(t, "", append(args, "--format", "csv")...)
	if code != ExitOK || strings.Count(out, "\n") != 1 {
		t.Fatalf("csv: exit %d, stdout %q\n%s", code, out, errOut)
	}
	for _, w := range []string{"setupkeys: warning: account " + ids["old"] + " (old) skipped, not audited: suspended (only ACTIVE accounts are audited)\n",
		"setupkeys: warning: account " + ids["sandbox"] + " (sandbox) skipped, not audited: excluded (--exclude-accounts)\n"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("csv stderr lacks %q:\n%s", w, errOut)
		}
	}
}

// check-permissions --org against moto (Organizations and STS AssumeRole served, no policy
// enforced): the listing, then every ACTIVE member through OrganizationAccountAccessRole, which
// create-account made; the closed member is skipped. Everything is allowed: exit 0.
func TestCheckPermissionsOrgAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	ids := motoOrganization(t, srv, "dev", "old")
	if _, err := organizations.NewFromConfig(srv.Config(t, moto.DefaultAccountID)).CloseAccount(context.Background(),
		&organizations.CloseAccountInput{AccountId: aws.String(ids["old"])}); err != nil {
		t.Fatal(err)
	}
	useEnv(t, srv, moto.DefaultAccountID)
	code, out, errOut := runCLI(t, "", "check-permissions", "--org", "--remediation", "--quiet")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rows := permissionRows(out)
	dev := ids["dev"]
	for key, want := range map[string]string{
		"caller organizations:ListAccounts": "allowed dry-call read succeeded",
		dev + " sts:AssumeRole":             "allowed dry-call assumed arn:aws:iam::" + dev + ":role/OrganizationAccountAccessRole",
	} {
		if rows[key] != want {
			t.Errorf("%s: %q, want %q\n%s", key, rows[key], want, out)
		}
	}
	for _, acct := range []string{moto.DefaultAccountID, dev} {
		for _, action := range []string{"iam:GenerateCredentialReport", "iam:ListUserTags", "iam:UpdateAccessKey", "iam:DeleteAccessKey"} {
			if r := rows[acct+" "+action]; !strings.HasPrefix(r, "allowed dry-call") {
				t.Errorf("account %s %s: %q\n%s", acct, action, r, out)
			}
		}
	}
	if _, ok := rows[ids["old"]+" sts:AssumeRole"]; ok || !strings.Contains(out, "Skipped, not checked: "+ids["old"]+" (old): suspended") ||
		!strings.Contains(out, "Nothing is denied in 2 accounts.") {
		t.Errorf("output:\n%s", out)
	}
}
