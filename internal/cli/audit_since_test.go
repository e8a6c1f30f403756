package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

func TestSinceReportFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--cloudtrail", "x"}, "goes with --since-report"},
		{[]string{"--since-report", "--cloudtrail", "x", "--exact"}, "not with --report, --exact"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"audit"}, tt.args...)...)
		if code != ExitBadInput || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %s", tt.args, code, errOut)
		}
	}
}

// TestSinceReportAddsBlindSpotKeys: a report generated before a key was made does not show it;
// the CloudTrail events after its GeneratedTime do, and the live key check judges it. moto
// rebuilds its report on every read, so the report's result is built here as AWS would have
// returned it four hours ago: carol (made before the report) with no key yet.
func TestSinceReportAddsBlindSpotKeys(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	var carolKey, daveKey string
	var records []trailgen.Record
	srv.InPast(t, 3*time.Minute, func() {
		moto.CreateConsoleUser(t, cfg, "carol") // in the report, without a key
	})
	generated := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
	k := moto.CreateAccessKey(t, cfg, "carol") // after the report, 3 minutes after carol: a setup key
	carolKey = *k.AccessKeyId
	// carol's user creation is before the report: only her key is in the events after it.
	records = append(records, trailgen.CreateAccessKey("carol", carolKey, k.CreateDate.UTC()))
	u := moto.CreateConsoleUser(t, cfg, "dave")
	d := moto.CreateAccessKey(t, cfg, "dave")
	daveKey = *d.AccessKeyId
	srv.UseKey(t, d)
	records = append(records, trailgen.CreateUser("dave", u.CreateDate.UTC()), trailgen.CreateLoginProfile("dave", u.CreateDate.UTC()), trailgen.CreateAccessKey("dave", daveKey, d.CreateDate.UTC()))
	// Events from before the report are not read again.
	old := trailgen.CreateAccessKey("carol", "AKIAEXAMPLEOLDKEY001", generated.Add(-time.Hour))
	dir := t.TempDir()
	if _, err := trailgen.WriteFile(dir, trailgen.ObjectKey(trailgen.Account, time.Now(), "s"), trailgen.Gzip(trailgen.Log(append([]trailgen.Record{old}, records...)...))); err != nil {
		t.Fatal(err)
	}
	audit := setupkeys.Audit{Window: 10 * time.Minute, Accounts: []setupkeys.AccountResult{{
		AccountID: moto.DefaultAccountID, Users: 1, Source: setupkeys.Source{Kind: setupkeys.SourceLiveReport, GeneratedTime: &generated},
	}}}
	caller := NewSDKSession(cfg, moto.DefaultAccountID, "")
	flags := SourceFlags{Window: 10 * time.Minute}
	if err := addSinceReport(context.Background(), SinceReportFlags{On: true, CloudTrail: dir}, flags, caller, true, &audit); err != nil {
		t.Fatal(err)
	}
	res := audit.Accounts[0]
	got := map[string]string{}
	for _, f := range res.Findings {
		got[*f.AccessKeyID] = string(f.Status)
	}
	if got[carolKey] != "fail" || got[daveKey] != "pass" || len(got) != 2 {
		t.Errorf("findings %v, want carol's %s fail and dave's %s pass", got, carolKey, daveKey)
	}
	// Run again over the same audit: nothing is added twice.
	if err := addSinceReport(context.Background(), SinceReportFlags{On: true, CloudTrail: dir}, flags, caller, true, &audit); err != nil {
		t.Fatal(err)
	}
	if n := len(audit.Accounts[0].Findings); n != 2 {
		t.Errorf("%d findings after a second pass, want 2", n)
	}
	if !strings.Contains(strings.Join(audit.Accounts[0].Warnings, "\n"), "2 keys created after the report") {
		t.Errorf("warnings %v", audit.Accounts[0].Warnings)
	}
}

// The whole command against moto: the live report already shows alice's key, so the events add
// nothing twice, and the exit code is the audit's.
func TestSinceReportCommand(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	u := moto.CreateConsoleUser(t, cfg, "alice")
	k := moto.CreateAccessKey(t, cfg, "alice")
	dir := t.TempDir()
	trailgen.WriteFile(dir, trailgen.ObjectKey(trailgen.Account, time.Now(), "c"), trailgen.Log(
		trailgen.CreateUser("alice", u.CreateDate.UTC()), trailgen.CreateLoginProfile("alice", u.CreateDate.UTC()), trailgen.CreateAccessKey("alice", *k.AccessKeyId, k.CreateDate.UTC())))
	for _, kv := range srv.Env(t, moto.DefaultAccountID) {
		key, v, _ := strings.Cut(kv, "=")
		t.Setenv(key, v)
	}
	code, out, errOut := runCLI(t, "", "audit", "--since-report", "--cloudtrail", dir, "--format", "json")
	if code != ExitFailed || strings.Count(out, *k.AccessKeyId) != 1 {
		t.Errorf("exit %d, want 3 with alice's key once:\n%s\n%s", code, out, errOut)
	}
}
