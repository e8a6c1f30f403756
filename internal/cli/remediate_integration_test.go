package cli

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// The remediation commands end to end against moto, as a user runs them: plan, apply, rollback.

// useEnv points the commands at srv as account, as the standard AWS config would.
func useEnv(t *testing.T, srv *moto.Server, account string) {
	t.Helper()
	for _, kv := range srv.Env(t, account) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// keyStatuses maps every key of every user of the account to its status.
func keyStatuses(t *testing.T, cfg aws.Config) map[string]string {
	t.Helper()
	ctx := context.Background()
	client := iam.NewFromConfig(cfg)
	out := map[string]string{}
	users, err := client.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		keys, err := client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys.AccessKeyMetadata {
			out[aws.ToString(k.AccessKeyId)] = string(k.Status)
		}
	}
	return out
}

func planKeyIDs(t *testing.T, path string) []string {
	t.Helper()
	p, err := remediate.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range p.Actions {
		ids = append(ids, a.KeyID())
	}
	slices.Sort(ids)
	return ids
}

func sortedIDs(keys ...iamtypes.AccessKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, aws.ToString(k.AccessKeyId))
	}
	slices.Sort(ids)
	return ids
}

// expectStatuses checks every key's status: want maps the keys that changed; the rest must be
// as in before.
func expectStatuses(t *testing.T, what string, got, before map[string]string, want map[string]string) {
	t.Helper()
	exp := maps.Clone(before)
	maps.Copy(exp, want)
	if !maps.Equal(got, exp) {
		t.Errorf("%s: key statuses\n got %v\nwant %v", what, got, exp)
	}
}

// TestRemediateAgainstMoto: a live plan names the three unused setup keys; apply without --yes
// off a terminal refuses and changes nothing; one planned key is used after the plan; apply
// --yes deactivates the other two and skips it; a re-run does nothing; rollback restores; a plan
// edited to another account is refused; a second plan deleted with --action delete removes only
// its keys, and rollback says they cannot come back.
func TestRemediateAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	planned := map[string]iamtypes.AccessKey{}
	srv.InPast(t, 200*24*time.Hour, func() {
		for _, u := range []string{"alice", "bob", "carol"} {
			moto.CreateConsoleUser(t, cfg, u)
			planned[u] = moto.CreateAccessKey(t, cfg, u)
		}
		moto.CreateConsoleUser(t, cfg, "erin")
		srv.UseKey(t, moto.CreateAccessKey(t, cfg, "erin"))
		moto.CreateProgrammaticUser(t, cfg, "deploy")
		moto.CreateAccessKey(t, cfg, "deploy")
	})
	useEnv(t, srv, moto.DefaultAccountID)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	journal := plan + ".journal.jsonl"
	alice, carol := aws.ToString(planned["alice"].AccessKeyId), aws.ToString(planned["carol"].AccessKeyId)

	code, _, errOut := runCLI(t, "", "plan", "--exact", "-o", plan)
	if code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	if got, want := planKeyIDs(t, plan), sortedIDs(planned["alice"], planned["bob"], planned["carol"]); !slices.Equal(got, want) {
		t.Fatalf("planned %v, want the three setup keys %v", got, want)
	}
	before := keyStatuses(t, cfg)

	// No terminal, no --yes: refused before anything, even the journal.
	code, _, errOut = runCLI(t, "", "apply", plan)
	if code != ExitBadInput || !strings.Contains(errOut, "--yes") {
		t.Errorf("apply without --yes: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(journal); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused apply created the journal: %v", err)
	}
	expectStatuses(t, "after the refused apply", keyStatuses(t, cfg), before, nil)

	// A plan edited to another account is refused.
	raw, _ := os.ReadFile(plan)
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte(strings.ReplaceAll(string(raw), moto.DefaultAccountID, "210987654321")), 0o600)
	code, _, errOut = runCLI(t, "", "apply", other, "--yes")
	if code != ExitBadInput || !strings.Contains(errOut, "plan is for another account") || !strings.Contains(errOut, "210987654321") {
		t.Errorf("plan for another account: exit %d\n%s", code, errOut)
	}
	expectStatuses(t, "after the other account's plan", keyStatuses(t, cfg), before, nil)

	// Bob's key is used after the plan: apply leaves it alone.
	srv.UseKey(t, planned["bob"])
	code, out, errOut := runCLI(t, "", "apply", plan, "--yes")
	if code != ExitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	expectStatuses(t, "after apply", keyStatuses(t, cfg), before, map[string]string{alice: "Inactive", carol: "Inactive"})
	for _, s := range []string{"deactivated  alice", "skipped      bob", "used since the plan", "deactivate: 2 deactivated, 1 skipped (journal " + journal + ")"} {
		if !strings.Contains(out, s) {
			t.Errorf("apply summary lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(errOut, "deactivated alice AKIA") || strings.Contains(out+errOut, alice) {
		t.Errorf("progress should name each key masked:\n%s", errOut)
	}

	// A re-run converges: nothing acted on twice.
	code, out, _ = runCLI(t, "", "apply", plan, "--yes")
	if code != ExitOK || strings.Count(out, "done by an earlier run") != 2 {
		t.Errorf("re-run: exit %d\n%s", code, out)
	}
	expectStatuses(t, "after the re-run", keyStatuses(t, cfg), before, map[string]string{alice: "Inactive", carol: "Inactive"})

	// Rollback without --yes off a terminal refuses; with it, restores exactly the two.
	if code, _, errOut = runCLI(t, "", "rollback", journal); code != ExitBadInput || !strings.Contains(errOut, "--yes") {
		t.Errorf("rollback without --yes: exit %d\n%s", code, errOut)
	}
	code, out, errOut = runCLI(t, "", "rollback", journal, "--yes")
	if code != ExitOK || !strings.Contains(out, "reactivate: 2 reactivated") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	expectStatuses(t, "after rollback", keyStatuses(t, cfg), before, nil)

	// A new plan (bob's key is used now) deleted: only its keys go; they cannot be rolled back.
	plan2 := filepath.Join(dir, "plan2.json")
	if code, _, errOut = runCLI(t, "", "plan", "--exact", "-o", plan2); code != ExitOK {
		t.Fatalf("plan 2: exit %d\n%s", code, errOut)
	}
	if got, want := planKeyIDs(t, plan2), sortedIDs(planned["alice"], planned["carol"]); !slices.Equal(got, want) {
		t.Fatalf("plan 2 has %v, want %v", got, want)
	}
	code, out, errOut = runCLI(t, "", "apply", plan2, "--action", "delete", "--yes")
	if code != ExitOK || !strings.Contains(out, "delete: 2 deleted") {
		t.Fatalf("delete: exit %d\n%s\n%s", code, out, errOut)
	}
	after := keyStatuses(t, cfg)
	delete(before, alice)
	delete(before, carol)
	expectStatuses(t, "after delete", after, before, nil)
	code, out, _ = runCLI(t, "", "rollback", plan2+".journal.jsonl", "--yes")
	if code != ExitOK || strings.Count(out, "cannot be restored") != 2 || !strings.Contains(out, "2 not-restorable") {
		t.Errorf("rollback of deletions: exit %d\n%s", code, out)
	}
}

// TestPlanFromReportResolveAgainstMoto: a plan from a credential report file has no key IDs and
// apply refuses it; plan --resolve matches them in the live account, and then it applies.
func TestPlanFromReportResolveAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	var key iamtypes.AccessKey
	srv.InPast(t, 200*24*time.Hour, func() {
		moto.CreateConsoleUser(t, cfg, "alice")
		key = moto.CreateAccessKey(t, cfg, "alice")
		moto.CreateConsoleUser(t, cfg, "bob")
		srv.UseKey(t, moto.CreateAccessKey(t, cfg, "bob"))
	})
	ctx := context.Background()
	client := iam.NewFromConfig(cfg)
	if _, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
		t.Fatal(err)
	}
	rep, err := client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	os.WriteFile(report, rep.Content, 0o600)
	plan := filepath.Join(dir, "plan.json")

	if code, _, errOut := runCLI(t, "", "plan", "--report", report, "-o", plan); code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	useEnv(t, srv, moto.DefaultAccountID)
	code, _, errOut := runCLI(t, "", "apply", plan, "--yes")
	if code != ExitBadInput || !strings.Contains(errOut, "--resolve") {
		t.Errorf("apply of a report-file plan: exit %d\n%s", code, errOut)
	}
	if code, _, errOut = runCLI(t, "", "plan", "--report", report, "--resolve", "-o", plan); code != ExitOK {
		t.Fatalf("plan --resolve: exit %d\n%s", code, errOut)
	}
	if got := planKeyIDs(t, plan); !slices.Equal(got, sortedIDs(key)) {
		t.Fatalf("resolved %v, want alice's key %s", got, aws.ToString(key.AccessKeyId))
	}
	if code, out, errOut := runCLI(t, "", "apply", plan, "--yes"); code != ExitOK || !strings.Contains(out, "1 deactivated") {
		t.Errorf("apply of the resolved plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if st := keyStatuses(t, cfg)[aws.ToString(key.AccessKeyId)]; st != "Inactive" {
		t.Errorf("alice's key is %s", st)
	}

	// check-permissions: moto enforces no policy, so everything is allowed, by dry calls.
	code, out, errOut := runCLI(t, "", "check-permissions", "--remediation")
	if code != ExitOK || !strings.Contains(out, "iam:DeleteAccessKey") || !strings.Contains(out, "dry-call") || !strings.Contains(out, "Nothing is denied.") {
		t.Errorf("check-permissions: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestRemediateOrganizationAgainstMoto: an organization made with create-account, a setup key in
// two member accounts; plan --org makes one plan naming each key's account, apply --yes
// deactivates in both through the role with one journal, rollback restores both.
func TestRemediateOrganizationAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	ctx := context.Background()
	mgmt := srv.Config(t, moto.DefaultAccountID)
	api := organizations.NewFromConfig(mgmt)
	if _, err := api.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]aws.Config{}
	keys := map[string]string{}
	for _, name := range []string{"dev", "prod"} {
		out, err := api.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.CreateAccountStatus.AccountId)
		cfgs[id] = srv.Config(t, id)
	}
	srv.InPast(t, 200*24*time.Hour, func() {
		for id, cfg := range cfgs {
			moto.CreateConsoleUser(t, cfg, "alice")
			keys[id] = aws.ToString(moto.CreateAccessKey(t, cfg, "alice").AccessKeyId)
		}
	})
	useEnv(t, srv, moto.DefaultAccountID)

	// audit --org (the credential report path) finds each member's setup key under its account.
	code, out, errOut := runCLI(t, "", "audit", "--org", "--quiet", "--format", "json")
	if code != ExitFailed {
		t.Fatalf("audit --org: exit %d, want 3\n%s", code, errOut)
	}
	var audit report.Document
	if err := json.Unmarshal([]byte(out), &audit); err != nil {
		t.Fatal(err)
	}
	audited := map[string]string{}
	for _, f := range audit.Findings {
		if f.Status == setupkeys.StatusFail && f.AccessKeyID != nil {
			audited[f.AccountID] = *f.AccessKeyID
		}
	}
	if !maps.Equal(audited, keys) || audit.Summary.Accounts != 3 || audit.Summary.AccountsErrored != 0 {
		t.Fatalf("audit --org found %v (summary %+v), want %v", audited, audit.Summary, keys)
	}

	dir := t.TempDir()
	plan := filepath.Join(dir, "org-plan.json")
	journal := plan + ".journal.jsonl"

	code, _, errOut = runCLI(t, "", "plan", "--org", "--exact", "--quiet", "-o", plan)
	if code != ExitOK {
		t.Fatalf("plan --org: exit %d\n%s", code, errOut)
	}
	p, err := remediate.LoadPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	if !p.MultiAccount() || p.AccountID != moto.DefaultAccountID || len(p.Accounts) != 3 || len(p.NotAudited()) != 0 {
		t.Errorf("plan header: account %s, accounts %+v", p.AccountID, p.Accounts)
	}
	got := map[string]string{}
	for _, a := range p.Actions {
		got[a.AccountID] = a.KeyID()
	}
	if !maps.Equal(got, keys) {
		t.Fatalf("planned %v, want %v", got, keys)
	}

	// Credentials of a member account cannot apply the management account's plan.
	for member := range cfgs {
		useEnv(t, srv, member)
		if code, _, errOut = runCLI(t, "", "apply", plan, "--yes"); code != ExitBadInput || !strings.Contains(errOut, "was made by account "+moto.DefaultAccountID) {
			t.Errorf("apply by a member: exit %d\n%s", code, errOut)
		}
		break
	}
	useEnv(t, srv, moto.DefaultAccountID)

	code, out, errOut = runCLI(t, "", "apply", plan, "--yes")
	if code != ExitOK || !strings.Contains(out, "deactivate: 2 deactivated") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for id, cfg := range cfgs {
		if st := keyStatuses(t, cfg)[keys[id]]; st != "Inactive" {
			t.Errorf("account %s: key is %s after apply", id, st)
		}
		if !strings.Contains(out, id) {
			t.Errorf("summary does not name account %s:\n%s", id, out)
		}
	}
	entries, err := remediate.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	inJournal := map[string]bool{}
	for _, e := range entries {
		inJournal[e.AccountID] = true
		if e.CallerAccount != moto.DefaultAccountID {
			t.Errorf("entry without its caller account: %+v", e)
		}
	}
	if len(inJournal) != 2 {
		t.Errorf("one journal should hold both accounts: %v", inJournal)
	}

	code, out, errOut = runCLI(t, "", "rollback", journal, "--yes")
	if code != ExitOK || !strings.Contains(out, "reactivate: 2 reactivated") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	for id, cfg := range cfgs {
		if st := keyStatuses(t, cfg)[keys[id]]; st != "Active" {
			t.Errorf("account %s: key is %s after rollback", id, st)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(mustRead(t, plan), &doc); err != nil || doc["accounts"] == nil {
		t.Errorf("plan JSON lacks accounts: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
