package cli

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// memClients are the Factory's AWS over the in-memory IAM, for the caller's account: the CLI
// tests' one fake for what needs no wire protocol.
type memClients struct {
	fake   *memiam.Fake
	caller string
}

func (m memClients) Connect(context.Context, AWSFlags) (*Session, error) {
	self, err := m.fake.Reach(m.caller, m.caller)
	if err != nil {
		return nil, err
	}
	return &Session{
		Account: m.caller,
		ARN:     "arn:aws:iam::" + m.caller + ":user/tester",
		Self:    self,
		IAM: func(account string, _ org.RoleOptions) (IAMClient, error) {
			c, err := m.fake.Reach(m.caller, account)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Organizations: func() org.OrganizationsAPI { return m.fake.Organizations() },
	}, nil
}

// runCLIWith runs the command tree with clients as the Factory's AWS; tty says whether a person
// is at the terminal typing stdin.
func runCLIWith(t *testing.T, clients AWSClients, tty bool, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &Factory{IO: IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, StdinIsTTY: tty, StdoutIsTTY: true, StderrIsTTY: tty}, Now: func() time.Time { return fixedNow }, AWS: clients}
	root := NewCmdRoot(f, "test")
	root.SetArgs(args)
	code, msg := ExitCode(root.ExecuteContext(context.Background()))
	if msg != "" {
		errOut.WriteString(msg + "\n")
	}
	return code, out.String(), errOut.String()
}

// seedSetupUsers gives acct n console users, each with a key made a second after the user and
// never used, and one user whose setup key was used; it returns every key's status. Key IDs
// carry the account's last digit, so that keys of several accounts differ, as in AWS.
func seedSetupUsers(f *memiam.Fake, acct string, n int) map[string]string {
	created := fixedNow.Add(-300 * 24 * time.Hour)
	used := created.Add(time.Hour)
	st := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("AKIASETUP%s%010d", acct[len(acct)-1:], i)
		f.AddUser(acct, memiam.User{Name: fmt.Sprintf("setup-%d", i), Created: created, Console: true, Keys: []memiam.Key{{ID: id, Created: created.Add(time.Second)}}})
		st[id] = "Active"
	}
	usedID := "AKIAUSED" + acct[len(acct)-1:] + "00000000001"
	f.AddUser(acct, memiam.User{Name: "used", Created: created, Console: true, Keys: []memiam.Key{{ID: usedID, Created: created, LastUsed: &used}}})
	st[usedID] = "Active"
	return st
}

func memStatuses(f *memiam.Fake, acct string, ids map[string]string) map[string]string {
	out := map[string]string{}
	for id := range ids {
		out[id] = f.KeyStatus(acct, id)
	}
	return out
}

// At a terminal, apply and rollback show what they will do and act only once the account ID is
// typed.
func TestApplyAndRollbackConfirm(t *testing.T) {
	const acct = "111111111111"
	fake := memiam.New()
	fake.AddAccount(acct, "management")
	before := seedSetupUsers(fake, acct, 3)
	clients := memClients{fake, acct}
	plan := t.TempDir() + "/plan.json"
	if code, _, errOut := runCLIWith(t, clients, false, "", "plan", "--exact", "-o", plan); code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	p, err := remediate.LoadPlan(plan)
	if err != nil || len(p.Actions) != 3 {
		t.Fatalf("plan: %v %+v", err, p)
	}

	code, _, errOut := runCLIWith(t, clients, true, "yes\n", "apply", plan, "--action", "delete")
	if code != ExitBadInput || !strings.Contains(errOut, "Will DELETE") || !strings.Contains(errOut, "Type the account ID ("+acct+")") || !strings.Contains(errOut, "not confirmed") {
		t.Errorf("apply, wrong answer: exit %d\n%s", code, errOut)
	}
	if got := memStatuses(fake, acct, before); !maps.Equal(got, before) {
		t.Error("an unconfirmed apply changed keys")
	}
	code, out, errOut := runCLIWith(t, clients, true, acct+"\n", "apply", plan)
	if code != ExitOK || !strings.Contains(out, "deactivate: 3 deactivated") {
		t.Fatalf("apply, confirmed: exit %d\n%s\n%s", code, out, errOut)
	}
	if fake.KeyStatus(acct, "AKIASETUP10000000000") != "Inactive" || fake.KeyStatus(acct, "AKIAUSED100000000001") != "Active" {
		t.Errorf("after apply: %v", memStatuses(fake, acct, before))
	}

	journal := plan + ".journal.jsonl"
	code, _, errOut = runCLIWith(t, clients, true, "\n", "rollback", journal)
	if code != ExitBadInput || !strings.Contains(errOut, "will be re-activated") || !strings.Contains(errOut, "to re-activate 3 keys") {
		t.Errorf("rollback, no answer: exit %d\n%s", code, errOut)
	}
	code, out, errOut = runCLIWith(t, clients, true, acct+"\n", "rollback", journal)
	if code != ExitOK || !strings.Contains(out, "reactivate: 3 reactivated") {
		t.Fatalf("rollback, confirmed: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := memStatuses(fake, acct, before); !maps.Equal(got, before) {
		t.Errorf("after rollback\n got %v\nwant %v", got, before)
	}
	// Nothing left to re-activate: no question asked, even without a terminal.
	if code, out, errOut = runCLIWith(t, clients, false, "", "rollback", journal); code != ExitOK || !strings.Contains(out, "by an earlier rollback") {
		t.Errorf("rollback again: exit %d\n%s\n%s", code, out, errOut)
	}
}

// audit --org through the Factory's fake: a member whose role is denied is that account's error
// in the output, the others' failing keys are found, and the exit code is 3.
func TestAuditOrgWithMemIAM(t *testing.T) {
	const mgmt, member, denied = "111111111111", "222222222222", "333333333333"
	fake := memiam.New()
	fake.AddAccount(mgmt, "management")
	fake.AddAccount(member, "dev")
	fake.AddAccount(denied, "locked")
	fake.DenyRole(denied, true)
	for _, a := range []string{mgmt, member, denied} {
		seedSetupUsers(fake, a, 2)
	}
	code, out, errOut := runCLIWith(t, memClients{fake, mgmt}, false, "", "audit", "--org", "--format", "csv")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	for _, a := range []string{mgmt, member} {
		if n := strings.Count(out, a+","); n < 2 {
			t.Errorf("account %s: %d rows, want its 2 failing keys\n%s", a, n, out)
		}
	}
	if !strings.Contains(out+errOut, "AccessDenied") {
		t.Errorf("the denied account's error is not shown\n%s\n%s", out, errOut)
	}
}
