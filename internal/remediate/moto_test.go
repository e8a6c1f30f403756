package remediate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/awsconfig"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/source"
	"github.com/setupkeys/setupkeys/internal/suppress"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

// account is a moto account seeded for remediation: console users whose setup keys were never
// used (planned), and keys the plan must never touch.
type account struct {
	srv    *moto.Server
	cfg    aws.Config
	client *iam.Client
	id     string
	// planned are the setup keys that fail, by user.
	planned map[string]types.AccessKey
	// untouchable are keys no plan includes: a used setup key, a later key, a programmatic
	// user's key.
	untouchable []string
}

// seed makes, 200 days ago, users alice, bob, carol and dave with unused setup keys (fail), erin
// with a used setup key, carol's second key made 30 days after her, and a programmatic user's
// unused key.
func seed(t *testing.T) *account {
	t.Helper()
	srv := moto.Shared(t)
	a := &account{srv: srv, id: moto.DefaultAccountID, planned: map[string]types.AccessKey{}}
	a.cfg = srv.Config(t, a.id)
	a.client = iam.NewFromConfig(a.cfg)
	srv.InPast(t, 200*24*time.Hour, func() {
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			moto.CreateConsoleUser(t, a.cfg, u)
			a.planned[u] = moto.CreateAccessKey(t, a.cfg, u)
		}
		moto.CreateConsoleUser(t, a.cfg, "erin")
		k := moto.CreateAccessKey(t, a.cfg, "erin")
		srv.UseKey(t, k)
		a.untouchable = append(a.untouchable, aws.ToString(k.AccessKeyId))
		moto.CreateProgrammaticUser(t, a.cfg, "deploy")
		a.untouchable = append(a.untouchable, aws.ToString(moto.CreateAccessKey(t, a.cfg, "deploy").AccessKeyId))
	})
	srv.InPast(t, 170*24*time.Hour, func() {
		a.untouchable = append(a.untouchable, aws.ToString(moto.CreateAccessKey(t, a.cfg, "carol").AccessKeyId))
	})
	return a
}

// plan audits the account live (credential report, flagged keys re-checked) and plans.
func (a *account) plan(t *testing.T, sup *suppress.Set) *remediate.Plan {
	t.Helper()
	ctx := context.Background()
	res, err := pipeline.Account(ctx, a.client, a.id, pipeline.Config{Live: source.LiveOptions{PollInterval: 20 * time.Millisecond}})
	if err != nil {
		t.Fatalf("LiveReport: %v", err)
	}
	findings := res.Findings
	if sup != nil {
		findings = sup.Apply(ctx, findings, suppress.IAMTags{Client: a.client}, time.Now()).Findings
	}
	p, err := remediate.NewPlan(findings, a.id, res.Source, false, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for u, k := range a.planned {
		if sup == nil || u != "dave" {
			want = append(want, aws.ToString(k.AccessKeyId))
		}
	}
	if got := planKeys(p); !slices.Equal(got, sorted(want)) {
		t.Fatalf("planned keys %v, want %v", got, sorted(want))
	}
	// The plan goes through its file, as with the CLI.
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	p, err = remediate.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func planKeys(p *remediate.Plan) []string {
	var ids []string
	for _, k := range p.Actions {
		ids = append(ids, k.KeyID())
	}
	return sorted(ids)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// statuses maps every key in the account to its status.
func (a *account) statuses(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	users, err := a.client.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Users {
		keys, err := a.client.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys.AccessKeyMetadata {
			out[aws.ToString(k.AccessKeyId)] = string(k.Status)
		}
	}
	return out
}

func (a *account) key(user string) string { return aws.ToString(a.planned[user].AccessKeyId) }

func (a *account) opts(t *testing.T, action remediate.Action, journal string) remediate.Options {
	t.Helper()
	caller, _, err := awsconfig.CallerAccount(context.Background(), a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return remediate.Options{Action: action, JournalPath: journal, Client: a.client, CallerAccount: caller}
}

func outcomeByUser(s *remediate.Summary) map[string]string {
	out := map[string]string{}
	for _, r := range s.Results {
		o := string(r.Outcome)
		if r.Earlier {
			o += "(earlier)"
		}
		if r.Recovered {
			o += "(recovered)"
		}
		out[r.User] = o
	}
	return out
}

func journal(t *testing.T, path string) []string {
	t.Helper()
	entries, err := remediate.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		l := fmt.Sprintf("%s %s %s", e.Action, e.Phase, e.User)
		if e.Recovered {
			l += " recovered"
		}
		out = append(out, l)
	}
	return out
}

func expect(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestMotoApplySkipsKeyUsedSincePlanAndRollbackRestores(t *testing.T) {
	a := seed(t)
	p := a.plan(t, nil)
	before := a.statuses(t)

	// After the plan, bob's key is used.
	a.srv.UseKey(t, a.planned["bob"])

	jpath := filepath.Join(t.TempDir(), "journal.jsonl")
	sum, err := remediate.Apply(context.Background(), p, a.opts(t, "", jpath))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "outcomes", outcomeByUser(sum), map[string]string{"alice": "deactivated", "bob": "skipped", "carol": "deactivated", "dave": "deactivated"})
	for _, r := range sum.Results {
		if r.User == "bob" && !strings.Contains(r.Reason, "used since the plan") {
			t.Errorf("bob skipped for %q", r.Reason)
		}
	}
	if sum.Failed() {
		t.Error("Failed() after a clean apply")
	}
	after := a.statuses(t)
	for id, st := range before {
		want := st
		if id == a.key("alice") || id == a.key("carol") || id == a.key("dave") {
			want = "Inactive"
		}
		if after[id] != want {
			t.Errorf("key %s: %s, want %s", setupkeys.MaskKeyID(id), after[id], want)
		}
	}

	rb, err := remediate.Rollback(context.Background(), remediate.RollbackOptions{JournalPath: jpath, Client: a.client, CallerAccount: a.id, VerifyDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "rollback", outcomeByUser(rb), map[string]string{"alice": "reactivated", "carol": "reactivated", "dave": "reactivated"})
	expect(t, "state after rollback", a.statuses(t), before)
	j := journal(t, jpath)
	if len(j) != 7+6 || !slices.Contains(j, "deactivate skipped bob") || slices.Contains(j, "reactivate intent bob") {
		t.Errorf("journal %v", j)
	}
}

func TestMotoDeleteOnlyPlannedKeys(t *testing.T) {
	a := seed(t)
	p := a.plan(t, nil)
	before := a.statuses(t)
	jpath := filepath.Join(t.TempDir(), "journal.jsonl")
	sum, err := remediate.Apply(context.Background(), p, a.opts(t, remediate.ActionDelete, jpath))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "outcomes", outcomeByUser(sum), map[string]string{"alice": "deleted", "bob": "deleted", "carol": "deleted", "dave": "deleted"})
	after := a.statuses(t)
	want := map[string]string{}
	for id, st := range before {
		if !slices.Contains(planKeys(p), id) {
			want[id] = st
		}
	}
	expect(t, "remaining keys", after, want)
	if len(after) != len(a.untouchable) {
		t.Errorf("%d keys left, want the %d untouchable ones", len(after), len(a.untouchable))
	}

	rb, err := remediate.Rollback(context.Background(), remediate.RollbackOptions{JournalPath: jpath, Client: a.client, CallerAccount: a.id})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "rollback", outcomeByUser(rb), map[string]string{"alice": "not-restorable", "bob": "not-restorable", "carol": "not-restorable", "dave": "not-restorable"})
}

func TestMotoDeactivateThenDelete(t *testing.T) {
	a := seed(t)
	p := a.plan(t, nil)
	jpath := filepath.Join(t.TempDir(), "journal.jsonl")
	if _, err := remediate.Apply(context.Background(), p, a.opts(t, "", jpath)); err != nil {
		t.Fatal(err)
	}
	sum, err := remediate.Apply(context.Background(), p, a.opts(t, remediate.ActionDelete, jpath))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "outcomes", outcomeByUser(sum), map[string]string{"alice": "deleted", "bob": "deleted", "carol": "deleted", "dave": "deleted"})
	if n := len(a.statuses(t)); n != len(a.untouchable) {
		t.Errorf("%d keys left", n)
	}
}

func TestMotoPlanForAnotherAccountIsRefused(t *testing.T) {
	a := seed(t)
	p := a.plan(t, nil)
	before := a.statuses(t)
	other := a.srv.Config(t, "210987654321")
	caller, _, err := awsconfig.CallerAccount(context.Background(), other)
	if err != nil || caller != "210987654321" {
		t.Fatalf("caller %q %v", caller, err)
	}
	jpath := filepath.Join(t.TempDir(), "journal.jsonl")
	_, err = remediate.Apply(context.Background(), p, remediate.Options{JournalPath: jpath, Client: iam.NewFromConfig(other), CallerAccount: caller})
	if !errors.Is(err, remediate.ErrWrongAccount) {
		t.Fatalf("err = %v, want ErrWrongAccount", err)
	}
	expect(t, "state", a.statuses(t), before)
	if _, err := os.Stat(jpath); !errors.Is(err, os.ErrNotExist) {
		t.Error("the refused apply wrote a journal")
	}
}

func TestMotoSuppressedKeysAreNotPlanned(t *testing.T) {
	a := seed(t)
	ctx := context.Background()
	if _, err := a.client.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("dave"), Tags: []types.Tag{{Key: aws.String("setupkeys-ignore"), Value: aws.String("")}}}); err != nil {
		t.Fatal(err)
	}
	sup, err := suppress.Parse(strings.NewReader("suppressions:\n  - user_tag: {key: setupkeys-ignore}\n    reason: break-glass user\n"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := a.plan(t, sup)
	if len(p.Listed) != 1 || p.Listed[0].User != "dave" || p.Listed[0].Why != "suppressed: break-glass user" {
		t.Errorf("listed %+v", p.Listed)
	}
}

// crashThenRerun runs Apply with a hook that stops it at stage on bob's key, as a crash would,
// then re-runs it and checks the journal and the final state are exact.
func TestMotoCrashMidApplyConverges(t *testing.T) {
	for _, stage := range []remediate.Stage{remediate.StageAfterIntent, remediate.StageAfterCall} {
		t.Run(string(stage), func(t *testing.T) {
			a := seed(t)
			p := a.plan(t, nil)
			jpath := filepath.Join(t.TempDir(), "journal.jsonl")
			o := a.opts(t, "", jpath)
			bob := a.key("bob")
			o.Client = &remediate.StopAt{IAM: o.Client, Stage: stage, User: "bob", KeyID: bob, Stop: remediate.Crash}
			if !remediate.Crashed(func() { remediate.Apply(context.Background(), p, o) }) {
				t.Fatal("did not crash")
			}
			sum, err := remediate.Apply(context.Background(), p, a.opts(t, "", jpath))
			if err != nil {
				t.Fatal(err)
			}
			assertConverged(t, a, p, sum, jpath, stage)

			// Rollback: bob's deactivation, if only recovered, is left alone unless asked.
			ro := remediate.RollbackOptions{JournalPath: jpath, Client: a.client, CallerAccount: a.id, VerifyDelay: 10 * time.Millisecond}
			if sum, err = remediate.Rollback(context.Background(), ro); err != nil {
				t.Fatal(err)
			}
			wantBob, wantStatus := "reactivated", "Active"
			if stage == remediate.StageAfterCall {
				wantBob, wantStatus = "skipped", "Inactive"
			}
			for u, o := range outcomeByUser(sum) {
				want := "reactivated"
				if u == "bob" {
					want = wantBob
				}
				if o != want {
					t.Errorf("rollback: %s %s, want %s", u, o, want)
				}
			}
			if st := a.statuses(t)[bob]; st != wantStatus {
				t.Errorf("bob's key is %s after rollback, want %s", st, wantStatus)
			}
			if stage == remediate.StageAfterCall {
				ro.IncludeRecovered = true
				if sum, err = remediate.Rollback(context.Background(), ro); err != nil || outcomeByUser(sum)["bob"] != "reactivated" {
					t.Fatalf("rollback --include-recovered: %v %v", err, outcomeByUser(sum))
				}
				if st := a.statuses(t)[bob]; st != "Active" {
					t.Errorf("bob's key is %s after rollback --include-recovered", st)
				}
			}
		})
	}
}

// assertConverged checks the state after a run that stopped at stage on bob's key and its
// re-run: every planned key Inactive, every other key as it was, and a journal with exactly one
// outcome per key.
func assertConverged(t *testing.T, a *account, p *remediate.Plan, sum *remediate.Summary, jpath string, stage remediate.Stage) {
	t.Helper()
	order := make([]string, 0, len(p.Actions))
	for _, k := range p.Actions {
		order = append(order, k.User)
	}
	bobAt := slices.Index(order, "bob")
	want := map[string]string{}
	var wantJournal []string
	for i, u := range order {
		switch {
		case i < bobAt:
			want[u] = "deactivated(earlier)"
			wantJournal = append(wantJournal, "deactivate intent "+u, "deactivate done "+u)
		case i == bobAt && stage == remediate.StageAfterCall:
			want[u] = "deactivated(recovered)"
			wantJournal = append(wantJournal, "deactivate intent "+u, "deactivate done "+u+" recovered")
		case i == bobAt:
			want[u] = "deactivated"
			wantJournal = append(wantJournal, "deactivate intent "+u, "deactivate intent "+u, "deactivate done "+u)
		default:
			want[u] = "deactivated"
			wantJournal = append(wantJournal, "deactivate intent "+u, "deactivate done "+u)
		}
	}
	expect(t, "outcomes", outcomeByUser(sum), want)
	expect(t, "journal", journal(t, jpath), wantJournal)
	st := a.statuses(t)
	for _, id := range planKeys(p) {
		if st[id] != "Inactive" {
			t.Errorf("planned key %s is %s", setupkeys.MaskKeyID(id), st[id])
		}
	}
	for _, id := range a.untouchable {
		if st[id] == "" {
			t.Errorf("key %s is gone", setupkeys.MaskKeyID(id))
		}
	}
}

// The real thing: a separate process applies the plan and is killed with SIGKILL right after
// writing bob's intent (or right after bob's call); a re-run converges.
func TestMotoKill9MidApply(t *testing.T) {
	for _, stage := range []remediate.Stage{remediate.StageAfterIntent, remediate.StageAfterCall} {
		t.Run(string(stage), func(t *testing.T) {
			a := seed(t)
			p := a.plan(t, nil)
			dir := t.TempDir()
			planPath, jpath := filepath.Join(dir, "plan.json"), filepath.Join(dir, "journal.jsonl")
			if err := p.Save(planPath); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperApplyProcess$")
			cmd.Env = append(os.Environ(), a.srv.Env(t, a.id)...)
			cmd.Env = append(cmd.Env, "SETUPKEYS_HELPER=apply", "SK_PLAN="+planPath, "SK_JOURNAL="+jpath, "SK_STAGE="+string(stage), "SK_KEY="+a.key("bob"))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ready := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if sc.Text() == "SETUPKEYS-HELPER-READY" {
						ready <- true
						return
					}
				}
				ready <- false
			}()
			select {
			case ok := <-ready:
				if !ok {
					cmd.Wait()
					t.Fatal("the helper ended without reaching the stage")
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("the helper did not reach the stage in time")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper ended with %v, want killed by SIGKILL", err)
			}

			sum, err := remediate.Apply(context.Background(), p, a.opts(t, "", jpath))
			if err != nil {
				t.Fatal(err)
			}
			assertConverged(t, a, p, sum, jpath, stage)
		})
	}
}

// TestHelperApplyProcess is the process TestMotoKill9MidApply kills: it applies the plan with
// the SDK configured from the environment, and at the stage on the key it says so and waits to
// be killed.
func TestHelperApplyProcess(t *testing.T) {
	if os.Getenv("SETUPKEYS_HELPER") != "apply" {
		t.Skip("helper process for TestMotoKill9MidApply")
	}
	ctx := context.Background()
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	caller, _, err := awsconfig.CallerAccount(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := remediate.LoadPlan(os.Getenv("SK_PLAN"))
	if err != nil {
		t.Fatal(err)
	}
	stage, keyID := remediate.Stage(os.Getenv("SK_STAGE")), os.Getenv("SK_KEY")
	client := &remediate.StopAt{IAM: iam.NewFromConfig(cfg), Stage: stage, User: "bob", KeyID: keyID, Stop: func() {
		fmt.Println("SETUPKEYS-HELPER-READY")
		time.Sleep(time.Hour) // killed here
	}}
	_, err = remediate.Apply(ctx, p, remediate.Options{
		JournalPath:   os.Getenv("SK_JOURNAL"),
		Client:        client,
		CallerAccount: caller,
	})
	t.Fatalf("the helper was not killed: %v", err)
}

func TestMotoCheckPermissionsFallsBackToDryCalls(t *testing.T) {
	a := seed(t)
	_, arn, err := awsconfig.CallerAccount(context.Background(), a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := a.statuses(t)
	perms, err := remediate.CheckPermissions(context.Background(), a.client, arn, remediate.RemediationActions())
	if err != nil {
		t.Fatal(err)
	}
	// moto has no policy simulator and enforces no IAM policy: every dry call is let through.
	for _, p := range perms {
		t.Logf("%s: %s by %s (%s)", p.Action, p.Decision, p.Method, p.Detail)
		if p.Decision != remediate.DecisionAllowed {
			t.Errorf("%s: %s (%s)", p.Action, p.Decision, p.Detail)
		}
	}
	expect(t, "state", a.statuses(t), before)
}
