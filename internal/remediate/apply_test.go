package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
)

// world is a fake account with planned keys.
type world struct {
	iam     *fakeIAM
	plan    *Plan
	journal string
}

// newWorld makes users u1..un each with one never-used key created at t0, and a plan for them.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	w := &world{iam: newFakeIAM(), journal: filepath.Join(t.TempDir(), "journal.jsonl")}
	var findings []setupkeys.Finding
	for i := 1; i <= n; i++ {
		user, id := fmt.Sprintf("u%d", i), fmt.Sprintf("AKIAKEY%013d", i)
		w.iam.addKey(user, "AKIAOTHER"+fmt.Sprintf("%011d", i), t0.Add(-time.Hour)) // a second key, not planned
		w.iam.addKey(user, id, t0.Add(500*time.Millisecond))
		w.iam.person(user, func(p *fakePerson) { p.created = t0 }) // a console user; the planned key made at setup
		findings = append(findings, mkFinding(user, id, 2, setupkeys.StatusFail, t0))
	}
	p, err := NewPlan(findings, acct, liveSrc, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	w.plan = p
	return w
}

func key(i int) string { return fmt.Sprintf("AKIAKEY%013d", i) }

func userName(i int) string { return fmt.Sprintf("u%d", i) }

func (w *world) opts(action Action) Options {
	return Options{Action: action, JournalPath: w.journal, Client: w.iam, CallerAccount: acct, Now: func() time.Time { return planNow.Add(time.Hour) }}
}

func outcomes(s *Summary) []string {
	var out []string
	for _, r := range s.Results {
		o := string(r.Outcome)
		if r.Earlier {
			o += "(earlier)"
		}
		if r.Recovered {
			o += "(recovered)"
		}
		out = append(out, r.User+":"+o)
	}
	return out
}

// journalLines reads the journal as "action phase key [recovered]" lines.
func journalLines(t *testing.T, path string) []string {
	t.Helper()
	entries, err := ReadJournal(path)
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
		if e.PlanID == "" || e.Run == "" || e.AccountID != acct || e.Time.IsZero() || e.AccessKeyID == "" {
			t.Errorf("incomplete entry %+v", e)
		}
	}
	return out
}

func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestApplyDeactivates(t *testing.T) {
	w := newWorld(t, 3)
	var seen []string
	o := w.opts("")
	o.OnResult = func(r KeyResult) { seen = append(seen, r.User) }
	sum, err := Apply(context.Background(), w.plan, o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deactivated", "u2:deactivated", "u3:deactivated"})
	check(t, "OnResult", seen, []string{"u1", "u2", "u3"})
	if sum.Failed() || sum.Action != ActionDeactivate || sum.PlanID != w.plan.ID {
		t.Errorf("summary %+v", sum)
	}
	for i := 1; i <= 3; i++ {
		if s := w.iam.status(key(i)); s != "Inactive" {
			t.Errorf("key %d is %s", i, s)
		}
		if s := w.iam.status("AKIAOTHER" + fmt.Sprintf("%011d", i)); s != "Active" {
			t.Errorf("unplanned key %d is %s", i, s)
		}
	}
	check(t, "journal", journalLines(t, w.journal), []string{
		"deactivate intent u1", "deactivate done u1",
		"deactivate intent u2", "deactivate done u2",
		"deactivate intent u3", "deactivate done u3",
	})
	if fi, _ := os.Stat(w.journal); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v", fi.Mode())
	}
	// A second run does nothing and says so.
	sum, err = Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "re-run", outcomes(sum), []string{"u1:deactivated(earlier)", "u2:deactivated(earlier)", "u3:deactivated(earlier)"})
	check(t, "writes", w.iam.writeLog(), []string{"UpdateAccessKey Inactive AKIAKEY0000000000001=1", "UpdateAccessKey Inactive AKIAKEY0000000000002=1", "UpdateAccessKey Inactive AKIAKEY0000000000003=1"})
	if n := len(journalLines(t, w.journal)); n != 6 {
		t.Errorf("re-run wrote to the journal: %d lines", n)
	}
}

func TestApplySkipsWhatChanged(t *testing.T) {
	w := newWorld(t, 5)
	w.iam.use(key(1), planNow.Add(time.Minute))     // used since the plan
	w.iam.UpdateAccessKeyDirect(key(2), "Inactive") // already inactive
	w.iam.deleteDirect("u3", key(3))                // gone
	w.iam.mu.Lock()
	_, k4 := w.iam.key(key(4))
	k4.created = t0.Add(5 * time.Second) // not the key the plan saw
	w.iam.mu.Unlock()
	w.iam.deleteUser("u5")
	sum, err := Apply(context.Background(), w.plan, w.opts(ActionDeactivate))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:skipped", "u2:skipped", "u3:skipped", "u4:refused", "u5:skipped"})
	wantWhy := []string{"used since the plan (last used 2025-05-01T12:01:00Z with s3)", "already Inactive", "the key no longer exists", "create date 2024-03-01T10:00:05Z differs", "the user no longer exists"}
	for i, r := range sum.Results {
		if !strings.Contains(r.Reason, wantWhy[i]) {
			t.Errorf("%s: reason %q, want %q", r.User, r.Reason, wantWhy[i])
		}
	}
	if sum.Failed() || sum.Refused() != 1 || len(w.iam.writeLog()) != 0 {
		t.Errorf("failed %v, refused %d, writes %v", sum.Failed(), sum.Refused(), w.iam.writeLog())
	}
	// The journal records that nothing was done to each, the refused key included.
	check(t, "journal", journalLines(t, w.journal), []string{"deactivate skipped u1", "deactivate skipped u2", "deactivate skipped u3", "deactivate skipped u4", "deactivate skipped u5"})
}

func TestApplyFailuresAreResultsAndRetried(t *testing.T) {
	w := newWorld(t, 3)
	w.iam.before = func(op, id string) error {
		switch {
		case op == "UpdateAccessKey" && id == key(1):
			return apiErr("AccessDenied")
		case op == "GetAccessKeyLastUsed" && id == key(2):
			return apiErr("ServiceFailure")
		}
		return nil
	}
	sum, err := Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:failed", "u2:failed", "u3:deactivated"})
	if !sum.Failed() || !strings.Contains(sum.Results[0].Reason, "AccessDenied") || !strings.Contains(sum.Results[1].Reason, "cannot check the key: user u2: iam GetAccessKeyLastUsed") {
		t.Errorf("results %+v", sum.Results)
	}
	check(t, "journal", journalLines(t, w.journal), []string{"deactivate intent u1", "deactivate failed u1", "deactivate failed u2", "deactivate intent u3", "deactivate done u3"})
	// Fixed; the re-run finishes the job and leaves u3 alone.
	w.iam.before = nil
	sum, err = Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "re-run", outcomes(sum), []string{"u1:deactivated", "u2:deactivated", "u3:deactivated(earlier)"})
	check(t, "counts", sum.Counts(), map[Outcome]int{OutcomeDeactivated: 3})
	check(t, "writes", w.iam.writeLog(), []string{"UpdateAccessKey Inactive AKIAKEY0000000000001=1", "UpdateAccessKey Inactive AKIAKEY0000000000002=1", "UpdateAccessKey Inactive AKIAKEY0000000000003=1"})
}

func TestApplyCheckFailure(t *testing.T) {
	w := newWorld(t, 1)
	w.iam.before = func(op, _ string) error {
		if op == "ListAccessKeys" {
			return apiErr("Throttling")
		}
		return nil
	}
	sum, err := Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Failed() || !strings.Contains(sum.Results[0].Reason, "cannot check the key") {
		t.Errorf("%+v", sum.Results)
	}
}

func TestApplyRefusals(t *testing.T) {
	w := newWorld(t, 1)
	o := w.opts("")
	o.CallerAccount = "222222222222"
	if _, err := Apply(context.Background(), w.plan, o); !errors.Is(err, ErrWrongAccount) {
		t.Errorf("other account: %v", err)
	}
	o.CallerAccount = ""
	if _, err := Apply(context.Background(), w.plan, o); !errors.Is(err, ErrWrongAccount) {
		t.Errorf("no caller account: %v", err)
	}
	if _, err := os.Stat(w.journal); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused apply created the journal")
	}
	o = w.opts("rotate")
	if _, err := Apply(context.Background(), w.plan, o); err == nil {
		t.Error("unknown action accepted")
	}
	o = w.opts("")
	o.JournalPath = ""
	if _, err := Apply(context.Background(), w.plan, o); err == nil {
		t.Error("no journal accepted")
	}
	src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "r.csv"}
	unresolved, _ := NewPlan([]setupkeys.Finding{mkFinding("u1", "", 1, setupkeys.StatusFail, t0)}, acct, src, false, 0, planNow)
	if _, err := Apply(context.Background(), unresolved, w.opts("")); !errors.Is(err, ErrUnresolved) {
		t.Errorf("unresolved: %v", err)
	}
	if len(w.iam.calls) != 0 {
		t.Errorf("refused applies called IAM: %v", w.iam.calls)
	}
}

func TestApplyJournalBusy(t *testing.T) {
	w := newWorld(t, 1)
	j, err := openJournal(w.journal, time.Now, false)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if _, err := Apply(context.Background(), w.plan, w.opts("")); !errors.Is(err, ErrJournalBusy) {
		t.Errorf("err = %v, want ErrJournalBusy", err)
	}
}

func TestApplyConvergesAfterCrash(t *testing.T) {
	for _, tt := range []struct {
		stage       Stage
		wantJournal []string
		wantOut     []string
	}{
		{
			// Died after the intent, before the call: the re-run checks and acts.
			StageAfterIntent,
			[]string{"deactivate intent u1", "deactivate done u1", "deactivate intent u2", "deactivate intent u2", "deactivate done u2", "deactivate intent u3", "deactivate done u3"},
			[]string{"u1:deactivated(earlier)", "u2:deactivated", "u3:deactivated"},
		},
		{
			// Died after the call, before its done: the re-run finds the key Inactive and
			// records done without calling again.
			StageAfterCall,
			[]string{"deactivate intent u1", "deactivate done u1", "deactivate intent u2", "deactivate done u2 recovered", "deactivate intent u3", "deactivate done u3"},
			[]string{"u1:deactivated(earlier)", "u2:deactivated(recovered)", "u3:deactivated"},
		},
		{
			// Died before checking: nothing of u2 was written.
			StageBeforeCheck,
			[]string{"deactivate intent u1", "deactivate done u1", "deactivate intent u2", "deactivate done u2", "deactivate intent u3", "deactivate done u3"},
			[]string{"u1:deactivated(earlier)", "u2:deactivated", "u3:deactivated"},
		},
	} {
		t.Run(string(tt.stage), func(t *testing.T) {
			w := newWorld(t, 3)
			o := w.opts("")
			o.Client = w.crashAt(tt.stage, 2)
			var before []string
			o.OnResult = func(r KeyResult) { before = append(before, r.User+":"+string(r.Outcome)) }
			if !Crashed(func() { Apply(context.Background(), w.plan, o) }) {
				t.Fatal("did not crash")
			}
			check(t, "before the crash", before, []string{"u1:deactivated"})
			sum, err := Apply(context.Background(), w.plan, w.opts(""))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "outcomes", outcomes(sum), tt.wantOut)
			check(t, "journal", journalLines(t, w.journal), tt.wantJournal)
			check(t, "writes", w.iam.writeLog(), []string{"UpdateAccessKey Inactive AKIAKEY0000000000001=1", "UpdateAccessKey Inactive AKIAKEY0000000000002=1", "UpdateAccessKey Inactive AKIAKEY0000000000003=1"})
		})
	}
}

func TestApplyDeleteCrashRecovery(t *testing.T) {
	w := newWorld(t, 2)
	o := w.opts(ActionDelete)
	o.Client = w.crashAt(StageAfterCall, 1)
	if !Crashed(func() { Apply(context.Background(), w.plan, o) }) {
		t.Fatal("did not crash")
	}
	sum, err := Apply(context.Background(), w.plan, w.opts(ActionDelete))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deleted(recovered)", "u2:deleted"})
	check(t, "journal", journalLines(t, w.journal), []string{"delete intent u1", "delete done u1 recovered", "delete intent u2", "delete done u2"})
	check(t, "writes", w.iam.writeLog(), []string{"DeleteAccessKey AKIAKEY0000000000001=1", "DeleteAccessKey AKIAKEY0000000000002=1"})
}

func TestApplyTornJournal(t *testing.T) {
	w := newWorld(t, 2)
	o := w.opts("")
	o.Client = w.crashAt(StageAfterCall, 2)
	Crashed(func() { Apply(context.Background(), w.plan, o) })
	// The process died in the middle of writing u2's done line.
	f, _ := os.OpenFile(w.journal, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"prev":"0123","time":"2025-05-01T13:00:00Z","plan_id":"` + w.plan.ID + `","run":"x","account_id":"1111`)
	f.Close()
	if _, err := ReadJournal(w.journal); err != nil {
		t.Fatalf("ReadJournal with a torn line: %v", err)
	}
	sum, err := Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deactivated(earlier)", "u2:deactivated(recovered)"})
	check(t, "journal", journalLines(t, w.journal), []string{"deactivate intent u1", "deactivate done u1", "deactivate intent u2", "deactivate done u2 recovered"})
	data, _ := os.ReadFile(w.journal)
	if strings.Contains(string(data), `"account_id":"1111`+"\n") || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("torn line kept:\n%s", data)
	}
}

// chainLines numbers, sums and chains JSON objects as the journal writes them, so a test can
// write entries with any content and still pass the chain check. An object that does not decode
// as an Entry is written with a made-up sum.
func chainLines(objs ...string) string {
	var b strings.Builder
	prev := ""
	for i, o := range objs {
		var e Entry
		sum := "none"
		if json.Unmarshal([]byte(o), &e) == nil {
			e.Seq, e.Prev = i+1, prev
			sum, _ = entrySum(e)
		}
		line := fmt.Sprintf(`{"seq":%d,"prev":%q,`, i+1, prev) + strings.TrimSuffix(strings.TrimPrefix(o, "{"), "}") + fmt.Sprintf(`,"sum":%q}`, sum)
		prev = sum
		b.WriteString(line + "\n")
	}
	return b.String()
}

func TestJournalDamage(t *testing.T) {
	w := newWorld(t, 1)
	os.WriteFile(w.journal, []byte("{\"time\":\"2025-05-01T13:00:00Z\"}\nnot json\n"), 0o600)
	if _, err := Apply(context.Background(), w.plan, w.opts("")); !errors.Is(err, ErrBadJournal) || !strings.Contains(err.Error(), "is not a setupkeys journal") {
		t.Errorf("err = %v", err)
	}
	os.WriteFile(w.journal, []byte(chainLines(`{"time":"2025-05-01T13:00:00Z","plan_id":"p","access_key_id":"K","action":"deactivate","phase":"done","extra":1}`)), 0o600)
	if _, err := Apply(context.Background(), w.plan, w.opts("")); !errors.Is(err, ErrBadJournal) {
		t.Errorf("unknown field: %v", err)
	}

	// Found by FuzzReadJournal: lines that decoded but that Apply and Rollback would misread.
	intent := `{"time":"2025-05-01T13:00:00Z","plan_id":"p","plan_digest":"d","run":"r","account_id":"111111111111","action":"deactivate","phase":"intent","user":"u1","access_key_id":"AKIAKEY0000000000001"}`
	good := strings.Replace(intent, `"intent"`, `"done"`, 1)
	for _, tt := range []struct{ name, line, want string }{
		{"text after the entry", good + "0", "more than one JSON value"},
		{"two entries run together", good + good, "more than one JSON value"},
		{"duplicate phase", strings.Replace(good, `"phase":"done"`, `"phase":"intent","phase":"done"`, 1), `field "phase" appears twice`},
		{"case variant", strings.Replace(good, `"phase"`, `"Phase"`, 1), `unknown field "Phase"`},
		{"unknown action", strings.Replace(good, `"deactivate"`, `"deactivatf"`, 1), `unknown action "deactivatf"`},
		{"unknown phase", strings.Replace(good, `"done"`, `"dome"`, 1), `unknown phase "dome"`},
		{"no user", strings.Replace(good, `"u1"`, `""`, 1), "not a setupkeys journal entry"},
		{"no account", strings.Replace(good, `"111111111111"`, `""`, 1), "not a setupkeys journal entry"},
		{"no time", strings.Replace(good, `"2025-05-01T13:00:00Z"`, `null`, 1), "not a setupkeys journal entry"},
		{"done by another run", strings.Replace(good, `"run":"r"`, `"run":"forged"`, 1), "a done entry without the intent it completes"},
		{"done of another key", strings.Replace(good, `0001"`, `0002"`, 1), "a done entry without the intent it completes"},
		{"other plan digest", strings.Replace(good, `"plan_digest":"d"`, `"plan_digest":"e"`, 1), "recorded with another digest"},
	} {
		os.WriteFile(w.journal, []byte(chainLines(intent, tt.line)), 0o600)
		if _, err := ReadJournal(w.journal); !errors.Is(err, ErrBadJournal) || !strings.Contains(err.Error(), "journal.jsonl:2:") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	os.WriteFile(w.journal, []byte(chainLines(intent, good)), 0o600)
	if _, err := ReadJournal(w.journal); err != nil {
		t.Errorf("good lines: %v", err)
	}
}

func TestApplyCanceled(t *testing.T) {
	w := newWorld(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	o := w.opts("")
	o.OnResult = func(r KeyResult) { cancel() }
	sum, err := Apply(ctx, w.plan, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deactivated", "u2:failed", "u3:failed"})
	if !strings.Contains(sum.Results[1].Reason, "not attempted") {
		t.Errorf("reason %q", sum.Results[1].Reason)
	}
}

func TestDeactivateThenDelete(t *testing.T) {
	w := newWorld(t, 2)
	if _, err := Apply(context.Background(), w.plan, w.opts(ActionDeactivate)); err != nil {
		t.Fatal(err)
	}
	// Deactivate first, delete later with the same plan and journal.
	sum, err := Apply(context.Background(), w.plan, w.opts(ActionDelete))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deleted", "u2:deleted"})
	if w.iam.status(key(1)) != "gone" || w.iam.status("AKIAOTHER00000000001") != "Active" {
		t.Error("wrong keys deleted")
	}
}

func TestDeleteRefusesKeyInactivatedByOthers(t *testing.T) {
	w := newWorld(t, 2)
	w.iam.UpdateAccessKeyDirect(key(1), "Inactive")
	sum, err := Apply(context.Background(), w.plan, w.opts(ActionDelete))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:skipped", "u2:deleted"})
	if !strings.Contains(sum.Results[0].Reason, "this journal did not deactivate it") || w.iam.status(key(1)) != "Inactive" {
		t.Errorf("%+v", sum.Results[0])
	}
}

func TestRollback(t *testing.T) {
	w := newWorld(t, 4)
	w.iam.use(key(4), planNow.Add(time.Minute)) // used: apply skips it, rollback must not touch it
	if _, err := Apply(context.Background(), w.plan, w.opts("")); err != nil {
		t.Fatal(err)
	}
	// After the apply: u3's key is deleted outside the tool, u2's key is re-activated by hand.
	w.iam.deleteDirect("u3", key(3))
	w.iam.UpdateAccessKeyDirect(key(2), "Active")
	w.iam.UpdateAccessKeyDirect(key(4), "Inactive") // someone else's deactivation

	ro := RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct, VerifyDelay: time.Millisecond}
	sum, err := Rollback(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:reactivated", "u2:skipped", "u3:not-restorable"})
	if !strings.Contains(sum.Results[2].Reason, "cannot be restored") || sum.Failed() {
		t.Errorf("%+v", sum.Results)
	}
	if w.iam.status(key(1)) != "Active" || w.iam.status(key(4)) != "Inactive" {
		t.Error("rollback touched the wrong keys")
	}
	check(t, "journal", journalLines(t, w.journal), []string{
		"deactivate intent u1", "deactivate done u1", "deactivate intent u2", "deactivate done u2", "deactivate intent u3", "deactivate done u3", "deactivate skipped u4",
		"reactivate intent u1", "reactivate done u1", "reactivate skipped u2", "reactivate skipped u3",
	})
	// Again: nothing more to do.
	sum, err = Rollback(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "re-run", outcomes(sum), []string{"u1:reactivated(earlier)", "u2:skipped", "u3:not-restorable"})
	check(t, "reactivations", w.iam.writes["UpdateAccessKey Active "+key(1)], 1)

	// Applying the plan again after the rollback deactivates again.
	sum, err = Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "re-apply", outcomes(sum), []string{"u1:deactivated", "u2:deactivated(earlier)", "u3:deactivated(earlier)", "u4:skipped"})
}

func TestRollbackDeletedKeysCannotComeBack(t *testing.T) {
	w := newWorld(t, 2)
	Apply(context.Background(), w.plan, w.opts(ActionDeactivate))
	o := w.opts(ActionDelete)
	o.Client = w.crashAt(StageBeforeCheck, 2) // only u1's key gets deleted
	Crashed(func() { Apply(context.Background(), w.plan, o) })
	sum, err := Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:not-restorable", "u2:reactivated"})
	if !strings.Contains(sum.Results[0].Reason, "this journal deleted the key") {
		t.Errorf("reason %q", sum.Results[0].Reason)
	}
}

func TestRollbackOfDirectDelete(t *testing.T) {
	w := newWorld(t, 1)
	Apply(context.Background(), w.plan, w.opts(ActionDelete))
	sum, err := Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:not-restorable"})
}

func TestRollbackCrash(t *testing.T) {
	for _, stage := range []Stage{StageAfterIntent, StageAfterCall} {
		t.Run(string(stage), func(t *testing.T) {
			w := newWorld(t, 2)
			Apply(context.Background(), w.plan, w.opts(""))
			ro := RollbackOptions{JournalPath: w.journal, Client: w.crashAt(stage, 1), CallerAccount: acct}
			if !Crashed(func() { Rollback(context.Background(), ro) }) {
				t.Fatal("did not crash")
			}
			ro.Client = w.iam
			sum, err := Rollback(context.Background(), ro)
			if err != nil {
				t.Fatal(err)
			}
			want := "u1:reactivated"
			if stage == StageAfterCall {
				want += "(recovered)"
			}
			check(t, "outcomes", outcomes(sum), []string{want, "u2:reactivated"})
			check(t, "reactivations", []int{w.iam.writes["UpdateAccessKey Active "+key(1)], w.iam.writes["UpdateAccessKey Active "+key(2)]}, []int{1, 1})
		})
	}
}

func TestRollbackRefusesOtherAccount(t *testing.T) {
	w := newWorld(t, 1)
	Apply(context.Background(), w.plan, w.opts(""))
	_, err := Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: "222222222222"})
	if !errors.Is(err, ErrWrongAccount) {
		t.Errorf("err = %v", err)
	}
	if w.iam.status(key(1)) != "Inactive" {
		t.Error("rollback acted in the wrong account")
	}
}

func TestRollbackVerifyNotVisible(t *testing.T) {
	w := newWorld(t, 1)
	Apply(context.Background(), w.plan, w.opts(""))
	// IAM accepts the change but keeps showing the old status (eventual consistency).
	reads := 0
	w.iam.before = func(op, id string) error {
		if op == "ListAccessKeys" {
			reads++
		}
		return nil
	}
	stale := &staleIAM{fakeIAM: w.iam}
	sum, err := Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: stale, CallerAccount: acct, VerifyAttempts: 3, VerifyDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Results[0].Outcome != OutcomeReactivated || !strings.Contains(sum.Results[0].Reason, "did not show the key Active after 3 reads") {
		t.Errorf("%+v", sum.Results[0])
	}
	if reads != 8 { // two pages (two keys) per look: 1 check and 3 verifications
		t.Errorf("%d reads, want 1 check and 3 verifications of 2 pages each", reads)
	}
}

// staleIAM accepts UpdateAccessKey without changing what ListAccessKeys shows.
type staleIAM struct{ *fakeIAM }

func (s *staleIAM) UpdateAccessKey(ctx context.Context, in *iamUpdateIn, opts ...iamOpt) (*iamUpdateOut, error) {
	return &iamUpdateOut{}, nil
}

func TestApplyDeleteOfVanishedKey(t *testing.T) {
	w := newWorld(t, 2)
	// Between the check and the call, u1's key disappears (a retried delete whose first
	// attempt succeeded looks the same); u2's too, but for a deactivation.
	w.iam.before = func(op, id string) error {
		if op == "DeleteAccessKey" && id == key(1) {
			w.iam.deleteDirectLocked("u1", id)
		}
		return nil
	}
	sum, err := Apply(context.Background(), w.plan, w.opts(ActionDelete))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deleted", "u2:deleted"})
	if !strings.Contains(sum.Results[0].Reason, "NoSuchEntity") {
		t.Errorf("reason %q", sum.Results[0].Reason)
	}

	w = newWorld(t, 1)
	w.iam.before = func(op, id string) error {
		if op == "UpdateAccessKey" {
			w.iam.deleteDirectLocked("u1", id)
		}
		return nil
	}
	sum, err = Apply(context.Background(), w.plan, w.opts(ActionDeactivate))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "deactivate", outcomes(sum), []string{"u1:skipped"})
	check(t, "journal", journalLines(t, w.journal), []string{"deactivate intent u1", "deactivate skipped u1"})
}

// A deactivation the journal only recovered (an interrupted apply whose re-run found the key
// already Inactive) may not be this tool's doing: rollback leaves it alone unless
// IncludeRecovered.
func TestRollbackRecoveredDeactivation(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stage Stage
		// admin deactivates u2's key on purpose between the crash and the re-run.
		admin      bool
		include    bool
		wantApply  string
		wantRoll   string
		wantStatus string
	}{
		{"crash before the call, admin deactivates", StageAfterIntent, true, false, "u2:deactivated(recovered)", "u2:skipped", "Inactive"},
		{"crash before the call, admin deactivates, included", StageAfterIntent, true, true, "u2:deactivated(recovered)", "u2:reactivated", "Active"},
		{"crash after the call", StageAfterCall, false, false, "u2:deactivated(recovered)", "u2:skipped", "Inactive"},
		{"crash after the call, included", StageAfterCall, false, true, "u2:deactivated(recovered)", "u2:reactivated", "Active"},
		{"crash before the call, re-run deactivates", StageAfterIntent, false, false, "u2:deactivated", "u2:reactivated", "Active"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, 3)
			o := w.opts("")
			o.Client = w.crashAt(tt.stage, 2)
			if !Crashed(func() { Apply(context.Background(), w.plan, o) }) {
				t.Fatal("did not crash")
			}
			if tt.admin {
				w.iam.UpdateAccessKeyDirect(key(2), "Inactive")
			}
			sum, err := Apply(context.Background(), w.plan, w.opts(""))
			if err != nil {
				t.Fatal(err)
			}
			check(t, "apply", outcomes(sum), []string{"u1:deactivated(earlier)", tt.wantApply, "u3:deactivated"})

			cands := Candidates(mustReadJournal(t, w.journal), "")
			if len(cands) != 3 || cands[1].Recovered != (tt.wantApply == "u2:deactivated(recovered)") || cands[0].Recovered || !cands[0].Restorable(false) || cands[1].Restorable(tt.include) != (tt.wantRoll == "u2:reactivated") {
				t.Errorf("candidates %+v", cands)
			}
			journalBefore := journalLines(t, w.journal)
			ro := RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct, IncludeRecovered: tt.include, VerifyDelay: time.Millisecond}
			sum, err = Rollback(context.Background(), ro)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "rollback", outcomes(sum), []string{"u1:reactivated", tt.wantRoll, "u3:reactivated"})
			if tt.wantRoll == "u2:skipped" {
				if sum.Results[1].Reason != RecoveredSkipReason || sum.Failed() {
					t.Errorf("reason %q", sum.Results[1].Reason)
				}
				// Decided from the journal alone: no IAM call, no entry for u2.
				check(t, "u2 entries", slices.DeleteFunc(journalLines(t, w.journal)[len(journalBefore):], func(l string) bool { return !strings.HasSuffix(l, " u2") }), []string{})
			}
			check(t, "u2's key", w.iam.status(key(2)), tt.wantStatus)
			check(t, "others", []string{w.iam.status(key(1)), w.iam.status(key(3))}, []string{"Active", "Active"})

			// A re-run says the same.
			sum, err = Rollback(context.Background(), ro)
			if err != nil {
				t.Fatal(err)
			}
			again := tt.wantRoll
			if again == "u2:reactivated" {
				again += "(earlier)"
			}
			check(t, "re-run", outcomes(sum), []string{"u1:reactivated(earlier)", again, "u3:reactivated(earlier)"})
		})
	}
}

// After a recovered deactivation was left alone, the key re-activated by hand and the plan
// applied again, the new deactivation is this tool's and rollback undoes it.
func TestRollbackAfterRecoveredThenRealDeactivation(t *testing.T) {
	w := newWorld(t, 1)
	o := w.opts("")
	o.Client = w.crashAt(StageAfterCall, 1)
	Crashed(func() { Apply(context.Background(), w.plan, o) })
	Apply(context.Background(), w.plan, w.opts(""))
	ro := RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct, IncludeRecovered: true, VerifyDelay: time.Millisecond}
	if sum, err := Rollback(context.Background(), ro); err != nil || outcomes(sum)[0] != "u1:reactivated" {
		t.Fatalf("rollback --include-recovered: %v %+v", err, sum)
	}
	if sum, err := Apply(context.Background(), w.plan, w.opts("")); err != nil || outcomes(sum)[0] != "u1:deactivated" {
		t.Fatalf("apply again: %v %+v", err, sum)
	}
	ro.IncludeRecovered = false
	sum, err := Rollback(context.Background(), ro)
	if err != nil || outcomes(sum)[0] != "u1:reactivated" || w.iam.status(key(1)) != "Active" {
		t.Errorf("rollback: %v %+v", err, sum)
	}
}

func mustReadJournal(t *testing.T, path string) []Entry {
	t.Helper()
	entries, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// The journal never destroys data: a file that is not a journal, a symbolic link (dangling or
// not), a FIFO or a device is refused with ErrBadJournal and left as it was.
func TestJournalNeverDestroysData(t *testing.T) {
	w := newWorld(t, 1)
	dir := t.TempDir()
	other := filepath.Join(dir, "token")
	os.WriteFile(other, []byte("ghp_secret-token-without-newline"), 0o600)
	link := filepath.Join(dir, "link.jsonl")
	os.Symlink(other, link)
	dangling := filepath.Join(dir, "dangling.jsonl")
	target := filepath.Join(dir, "created-by-nobody")
	os.Symlink(target, dangling)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(dir, "note.txt")
	os.WriteFile(note, []byte("a note\nsecond line\n"), 0o600)
	for _, tt := range []struct{ name, path, want string }{
		{"a token without newline", other, "is not a setupkeys journal"},
		{"a note", note, "is not a setupkeys journal"},
		{"a symlink", link, "is a symbolic link: refusing to follow it"},
		{"a dangling symlink", dangling, "is a symbolic link: refusing to follow it"},
		{"a FIFO", fifo, "is not a regular file"},
		{"/dev/zero", "/dev/zero", "is not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := w.opts("")
			o.JournalPath = tt.path
			_, err := Apply(context.Background(), w.plan, o)
			if !errors.Is(err, ErrBadJournal) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadJournal with %q", err, tt.want)
			}
			_, err = Rollback(context.Background(), RollbackOptions{JournalPath: tt.path, Client: w.iam, CallerAccount: acct})
			if !errors.Is(err, ErrBadJournal) {
				t.Fatalf("rollback: err = %v", err)
			}
			if _, err := ReadJournal(tt.path); !errors.Is(err, ErrBadJournal) {
				t.Fatalf("ReadJournal: err = %v", err)
			}
		})
	}
	if b, _ := os.ReadFile(other); string(b) != "ghp_secret-token-without-newline" {
		t.Errorf("the token file was changed: %q", b)
	}
	if b, _ := os.ReadFile(note); string(b) != "a note\nsecond line\n" {
		t.Errorf("the note was changed: %q", b)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dangling link's target was created: %v", err)
	}
	if log := w.iam.writeLog(); len(log) != 0 {
		t.Errorf("writes: %q", log)
	}
}

// A complete last entry that lacks only its newline is kept (its key is not acted on again and
// rollback restores it); a torn one is cut and a note says so.
func TestJournalLastLine(t *testing.T) {
	w := newWorld(t, 2)
	if _, err := Apply(context.Background(), w.plan, w.opts("")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(w.journal)
	os.WriteFile(w.journal, bytes.TrimSuffix(data, []byte("\n")), 0o600)
	entries, err := ReadJournal(w.journal)
	if err != nil || len(entries) != 4 {
		t.Fatalf("ReadJournal: %d entries, %v", len(entries), err)
	}
	sum, err := Apply(context.Background(), w.plan, w.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deactivated(earlier)", "u2:deactivated(earlier)"})
	if len(sum.Notes) != 0 {
		t.Errorf("notes: %q", sum.Notes)
	}
	if b, _ := os.ReadFile(w.journal); !bytes.Equal(b, data) {
		t.Errorf("the journal is not the original with its newline back:\n%s", b)
	}
	rs, err := Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct, VerifyDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "rollback", outcomes(rs), []string{"u1:reactivated", "u2:reactivated"})

	// A torn line is cut, and said.
	data, _ = os.ReadFile(w.journal)
	os.WriteFile(w.journal, append(data, `{"seq":9,"prev":"ab`...), 0o600)
	rs, err = Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Notes) != 1 || !strings.Contains(rs.Notes[0], "cut a torn last line (line 9, 19 bytes)") {
		t.Errorf("notes: %q", rs.Notes)
	}
	if b, _ := os.ReadFile(w.journal); !bytes.Equal(b, data) {
		t.Errorf("the torn line was not cut exactly:\n%s", b)
	}
}

// A line edited, inserted or appended by hand breaks the chain: apply and rollback refuse the
// journal naming the line, and nothing is re-activated.
func TestJournalForgedLine(t *testing.T) {
	w := newWorld(t, 2)
	if _, err := Apply(context.Background(), w.plan, w.opts("")); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(w.journal)
	lines := strings.SplitAfter(string(orig), "\n")
	forgedDone := strings.Replace(lines[3], "AKIAKEY0000000000002", "AKIAKEY0000000000009", 1)
	for _, tt := range []struct{ name, journal, line string }{
		{"edited", lines[0] + lines[1] + strings.Replace(lines[2], `"u2"`, `"u3"`, 1) + lines[3], ":3: the entry does not match its sum"},
		{"last edited", lines[0] + lines[1] + lines[2] + strings.Replace(lines[3], `"u2"`, `"u3"`, 1), ":4: the entry does not match its sum"},
		{"inserted", lines[0] + lines[1] + lines[1] + lines[2] + lines[3], ":3:"},
		{"appended", string(orig) + forgedDone, ":5:"},
		{"removed", lines[0] + lines[2] + lines[3], ":2:"},
	} {
		os.WriteFile(w.journal, []byte(tt.journal), 0o600)
		_, err := Rollback(context.Background(), RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct})
		if !errors.Is(err, ErrBadJournal) || !strings.Contains(err.Error(), "journal.jsonl"+tt.line) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	check(t, "writes", w.iam.writeLog(), []string{"UpdateAccessKey Inactive AKIAKEY0000000000001=1", "UpdateAccessKey Inactive AKIAKEY0000000000002=1"})
}

// lostAnswer is an IAM client whose write for KeyID is carried out but whose answer never
// arrives: the call times out, as behind a stalled connection.
type lostAnswer struct {
	IAM
	keyID string
}

func (l *lostAnswer) UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	out, err := l.IAM.UpdateAccessKey(ctx, in, opts...)
	if aws.ToString(in.AccessKeyId) == l.keyID {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return out, err
}

// An answer lost after IAM acted is journalled as unknown, never as failed or skipped; the
// re-run resolves it from the live state as recovered and rollback --include-recovered undoes
// it. A cancelled run's call in flight still finishes and is journalled.
func TestApplyLostAnswerIsRecovered(t *testing.T) {
	w := newWorld(t, 2)
	o := w.opts("")
	o.Client = &lostAnswer{IAM: w.iam, keyID: key(1)}
	o.CallTimeout = 50 * time.Millisecond
	sum, err := Apply(context.Background(), w.plan, o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:unknown", "u2:deactivated"})
	if !sum.Failed() || !strings.Contains(sum.Results[0].Reason, "no answer came") {
		t.Errorf("failed %v, reason %q", sum.Failed(), sum.Results[0].Reason)
	}
	check(t, "journal", journalLines(t, w.journal), []string{"deactivate intent u1", "deactivate unknown u1", "deactivate intent u2", "deactivate done u2"})

	// Straight away, without a re-apply: rollback leaves it alone by default, restores it
	// with --include-recovered.
	ro := RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct, VerifyDelay: time.Millisecond}
	rs, err := Rollback(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "rollback", outcomes(rs), []string{"u1:skipped", "u2:reactivated"})
	if rs.Results[0].Reason != UnsettledSkipReason || w.iam.status(key(1)) != "Inactive" {
		t.Errorf("reason %q, status %s", rs.Results[0].Reason, w.iam.status(key(1)))
	}
	ro.IncludeRecovered = true
	rs, err = Rollback(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "rollback --include-recovered", outcomes(rs), []string{"u1:reactivated", "u2:reactivated(earlier)"})
	if w.iam.status(key(1)) != "Active" {
		t.Errorf("u1's key is %s", w.iam.status(key(1)))
	}
}

// Killed after IAM acted (kill -9: the journal holds the intent only): the re-run records the
// key as recovered, and rollback --include-recovered, even straight after the kill, restores it.
func TestRollbackStraightAfterKill(t *testing.T) {
	w := newWorld(t, 2)
	o := w.opts("")
	o.Client = w.crashAt(StageAfterCall, 2)
	Crashed(func() { Apply(context.Background(), w.plan, o) })
	ro := RollbackOptions{JournalPath: w.journal, Client: w.iam, CallerAccount: acct, VerifyDelay: time.Millisecond}
	cands := Candidates(mustRead(t, w.journal), "")
	if len(cands) != 2 || !cands[1].Unsettled || !cands[1].Restorable(true) || cands[1].Restorable(false) {
		t.Fatalf("candidates %+v", cands)
	}
	ro.IncludeRecovered = true
	rs, err := Rollback(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "rollback", outcomes(rs), []string{"u1:reactivated", "u2:reactivated"})
	if w.iam.status(key(2)) != "Active" {
		t.Errorf("u2's key is %s", w.iam.status(key(2)))
	}
}

// A cancelled context (the first Ctrl-C) stops new work: keys not reached are "not attempted"
// and nothing about them is journalled or changed.
func TestApplyCancelledStopsNewWork(t *testing.T) {
	w := newWorld(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	o := w.opts("")
	o.OnResult = func(r KeyResult) {
		if r.User == "u1" {
			cancel()
		}
	}
	sum, err := Apply(ctx, w.plan, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	check(t, "outcomes", outcomes(sum), []string{"u1:deactivated", "u2:failed", "u3:failed"})
	check(t, "journal", journalLines(t, w.journal), []string{"deactivate intent u1", "deactivate done u1"})
	if !strings.Contains(sum.Results[1].Reason, "not attempted") {
		t.Errorf("reason %q", sum.Results[1].Reason)
	}
}

func mustRead(t *testing.T, path string) []Entry {
	t.Helper()
	e, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
