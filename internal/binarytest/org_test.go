package binarytest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// motoOrgWithClosedMember makes an organization in moto with members dev and old, closes old
// (moto then lists it SUSPENDED), and returns the members' IDs.
func motoOrgWithClosedMember(t *testing.T, srv *moto.Server) (dev, old string) {
	t.Helper()
	ctx := context.Background()
	api := organizations.NewFromConfig(srv.Config(t, moto.DefaultAccountID))
	if _, err := api.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range []string{"dev", "old"} {
		out, err := api.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = aws.ToString(out.CreateAccountStatus.AccountId)
	}
	if _, err := api.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(ids["old"])}); err != nil {
		t.Fatal(err)
	}
	return ids["dev"], ids["old"]
}

// The binary against moto: a suspended member and an excluded one are listed on stderr beside
// CSV, in JSON, and on an 80-column terminal under the summary; check-permissions --org checks
// the caller and the active members and lists the skipped one.
func TestOrgSkippedAccountsAndPermissions(t *testing.T) {
	srv := moto.Shared(t)
	dev, old := motoOrgWithClosedMember(t, srv)
	env := motoEnv(t, srv, moto.DefaultAccountID)
	args := []string{"audit", "--org", "--exclude-accounts", dev, "--quiet"}

	r := run(t, env, "", append(args, "--format", "csv")...)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("csv: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"setupkeys: warning: account " + old + " (old) skipped, not audited: suspended (only ACTIVE accounts are audited)\n",
		"setupkeys: warning: account " + dev + " (dev) skipped, not audited: excluded (--exclude-accounts)\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	r = run(t, env, "", append(args, "--format", "json")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"accounts_skipped":2`) || !strings.Contains(r.stdout, `{"account_id":"`+old+`","name":"old","reason":"suspended"}`) {
		t.Errorf("json: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r = runTTY(t, 80, env, "", args...)
	for _, want := range []string{"(window 10m0s, 2 skipped)", "2 accounts skipped (not audited):\n", "  " + old + " (old): suspended (only ACTIVE accounts are audited)\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("terminal lacks %q:\n%s", want, r.stdout)
		}
	}

	for _, line := range strings.Split(r.stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("a line of %d columns on an 80-column terminal: %q", n, line)
		}
	}

	r = run(t, env, "", "check-permissions", "--org", "--quiet")
	if r.code != 0 || !strings.Contains(r.stdout, "Skipped, not checked: "+old+" (old): suspended") ||
		!strings.Contains(r.stdout, "sts:AssumeRole") || !strings.Contains(r.stdout, "Nothing is denied in 2 accounts.") {
		t.Errorf("check-permissions --org: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// --print-policy prints the shipped files, byte for byte, with no AWS setup at all.
func TestPrintPolicyNeedsNoAWS(t *testing.T) {
	for name, file := range map[string]string{"audit": "audit-policy.json", "remediate": "remediation-policy.json", "org": "org-policy.json", "securityhub": "securityhub-policy.json"} {
		want, err := os.ReadFile(filepath.Join(moduleRoot, "policies", file))
		if err != nil {
			t.Fatal(err)
		}
		if r := run(t, cleanEnv(t), "", "check-permissions", "--print-policy", name); r.code != 0 || r.stdout != string(want) || r.stderr != "" {
			t.Errorf("--print-policy %s: exit %d, stderr %q, stdout differs: %v", name, r.code, r.stderr, r.stdout != string(want))
		}
	}
}
