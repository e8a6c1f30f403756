package cli

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

// TestAuditLiveAgainstMoto runs `setupkeys audit` end to end, as a user would, against a real IAM
// emulator: the credential report path and --exact find exactly the setup keys, with their real
// key IDs, and exit 3.
func TestAuditLiveAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	var failKey, usedKey string
	srv.InPast(t, 200*24*time.Hour, func() {
		moto.CreateConsoleUser(t, cfg, "alice")
		failKey = *moto.CreateAccessKey(t, cfg, "alice").AccessKeyId
		moto.CreateConsoleUser(t, cfg, "bob")
		k := moto.CreateAccessKey(t, cfg, "bob")
		usedKey = *k.AccessKeyId
		srv.UseKey(t, k)
		moto.CreateConsoleUser(t, cfg, "carol")
		moto.CreateProgrammaticUser(t, cfg, "deploy")
		moto.CreateAccessKey(t, cfg, "deploy")
	})
	moto.CreateAccessKey(t, cfg, "carol") // 200 days after carol: not a setup key

	for _, exact := range []bool{false, true} {
		name := "report"
		args := []string{"audit", "--endpoint-url", srv.URL(), "--format", "json", "--all"}
		if exact {
			name = "exact"
			args = append(args, "--exact")
		}
		t.Run(name, func(t *testing.T) {
			for _, kv := range srv.Env(t, moto.DefaultAccountID) {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, "", args...)
			if code != ExitFailed {
				t.Fatalf("exit %d, want 3; stderr %s", code, errOut)
			}
			var doc report.Document
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, f := range doc.Findings {
				id := "<nil>"
				if f.AccessKeyID != nil {
					id = *f.AccessKeyID
				}
				got[f.User+"/"+string(f.Status)] = id
				if f.AccountID != moto.DefaultAccountID {
					t.Errorf("finding for %s has account %q", f.User, f.AccountID)
				}
			}
			if got["alice/fail"] != failKey {
				t.Errorf("alice's setup key: got %q, want fail with %s (all: %v)", got["alice/fail"], failKey, got)
			}
			if exact && got["bob/pass"] != usedKey {
				t.Errorf("bob's used key should pass with its ID under --exact: %v", got)
			}
			if _, ok := got["bob/pass"]; !ok {
				t.Errorf("bob's used setup key should pass: %v", got)
			}
			if _, ok := got["carol/pass"]; !ok {
				t.Errorf("carol's later key should pass: %v", got)
			}
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if len(got) != 3 || doc.Summary.Fail != 1 {
				t.Errorf("findings %v, summary %+v; want alice fail, bob and carol pass, nothing for the programmatic user", keys, doc.Summary)
			}
			wantKind := "live-report"
			if exact {
				wantKind = "live-api"
			}
			if string(doc.Source.Kind) != wantKind {
				t.Errorf("source %q, want %q", doc.Source.Kind, wantKind)
			}
		})
	}
}
