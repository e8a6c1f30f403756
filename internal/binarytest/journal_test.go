package binarytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// setupKeys resets the shared moto, seeds its default account with console users whose setup
// keys were never used (made 200 days ago) and writes a plan for them; it returns the server,
// the env, the plan's path and the keys by user.
func setupKeys(t *testing.T, users ...string) (srv *moto.Server, env []string, plan string, keys map[string]string) {
	t.Helper()
	srv = moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	keys = map[string]string{}
	srv.InPast(t, 200*24*time.Hour, func() {
		for _, u := range users {
			moto.CreateConsoleUser(t, cfg, u)
			keys[u] = aws.ToString(moto.CreateAccessKey(t, cfg, u).AccessKeyId)
		}
	})
	env = motoEnv(t, srv, moto.DefaultAccountID)
	plan = filepath.Join(t.TempDir(), "plan.json")
	if r := run(t, env, "", "plan", "-o", plan); r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	return srv, env, plan, keys
}

// keyStatus is the key's status in moto's default account.
func keyStatus(t *testing.T, srv *moto.Server, user, id string) string {
	t.Helper()
	out, err := iam.NewFromConfig(srv.Config(t, moto.DefaultAccountID)).ListAccessKeys(t.Context(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range out.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == id {
			return string(k.Status)
		}
	}
	return "gone"
}

// applyHeld starts apply of plan through a proxy that holds moto's answers to UpdateAccessKey
// and returns once the first is held: IAM has deactivated the key, the process waits for the
// answer.
func applyHeld(t *testing.T, srv *moto.Server, env []string, plan string) (proxy *holdingProxy, cmd *exec.Cmd, wait func(time.Duration) result, journal string) {
	t.Helper()
	proxy = newHoldingProxy(t, srv.URL(), "UpdateAccessKey")
	journal = filepath.Join(t.TempDir(), "journal.jsonl")
	cmd, wait = start(t, append(env, "AWS_ENDPOINT_URL="+proxy.url), "apply", plan, "--yes", "--journal", journal)
	select {
	case <-proxy.held:
	case <-time.After(60 * time.Second):
		t.Fatal("no UpdateAccessKey reached the proxy")
	}
	return proxy, cmd, wait, journal
}

// A --journal path that is a symbolic link (to another file, or dangling) or another file that
// is not a journal is refused with exit 2: nothing is written through the link, no dangling
// target is created, the other file keeps every byte, and no key is touched.
func TestJournalPathNotAJournal(t *testing.T) {
	srv, env, plan, keys := setupKeys(t, "jp-alice")
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	content := []byte("a token, no trailing newline")
	writeFile(t, notes, string(content))
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(notes, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.jsonl")
	target := filepath.Join(dir, "not-there.jsonl")
	if err := os.Symlink(target, dangling); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, journal, want string
	}{
		{"a link to another file", link, "is a symbolic link: refusing to follow it"},
		{"a dangling link", dangling, "is a symbolic link: refusing to follow it"},
		{"another file", notes, "is not a setupkeys journal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, env, "", "apply", plan, "--yes", "--journal", tt.journal)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("apply: exit %d, want 2 and %q; stderr:\n%s", r.code, tt.want, r.stderr)
			}
			r = run(t, env, "", "rollback", tt.journal, "--yes")
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("rollback: exit %d, want 2 and %q; stderr:\n%s", r.code, tt.want, r.stderr)
			}
			if got, err := os.ReadFile(notes); err != nil || !bytes.Equal(got, content) {
				t.Errorf("the other file is now %q (err %v)", got, err)
			}
			if _, err := os.Lstat(target); !os.IsNotExist(err) {
				t.Errorf("the dangling link's target was created (err %v)", err)
			}
			for _, l := range []string{link, dangling} {
				if fi, err := os.Lstat(l); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("%s is no longer a link (err %v)", l, err)
				}
			}
			if s := keyStatus(t, srv, "jp-alice", keys["jp-alice"]); s != "Active" {
				t.Errorf("the key is %s", s)
			}
		})
	}
}

// A signal while IAM has carried out a deactivation but its answer has not arrived: the process
// waits for the answer, journals done, and exits 130 (143 for SIGTERM) saying how to resume; the
// key after it is not started. A plain rollback then restores the key.
func TestSignalDuringUpdateAccessKey(t *testing.T) {
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			first, second := "sig-a-"+tt.sig.String(), "sig-b-"+tt.sig.String()
			srv, env, plan, keys := setupKeys(t, first, second)
			proxy, cmd, wait, journal := applyHeld(t, srv, env, plan)
			cmd.Process.Signal(tt.sig)
			time.Sleep(500 * time.Millisecond) // the process must still be waiting for the answer
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				t.Fatalf("the process exited before the call in flight was answered (%v)", err)
			}
			proxy.Release()
			r := wait(60 * time.Second)
			if r.code != tt.code || !strings.Contains(r.stderr, "interrupted: run the same command again to resume") {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			entries, err := remediate.ReadJournal(journal)
			if err != nil {
				t.Fatal(err)
			}
			var phases []string
			for _, e := range entries {
				phases = append(phases, e.User+" "+string(e.Phase))
			}
			// Which key the plan lists first is the plan's order; the first acted on is done,
			// the other never started.
			if len(entries) != 2 || entries[0].Phase != remediate.PhaseIntent || entries[1].Phase != remediate.PhaseDone || entries[0].User != entries[1].User {
				t.Fatalf("journal: %v", phases)
			}
			done := entries[1].User
			other := first
			if done == first {
				other = second
			}
			if s := keyStatus(t, srv, done, keys[done]); s != "Inactive" {
				t.Errorf("%s is %s after its done", done, s)
			}
			if s := keyStatus(t, srv, other, keys[other]); s != "Active" {
				t.Errorf("%s is %s: started after the signal", other, s)
			}
			if r := run(t, env, "", "rollback", journal, "--yes"); r.code != 0 || keyStatus(t, srv, done, keys[done]) != "Active" {
				t.Errorf("rollback: exit %d, key %s; stderr:\n%s", r.code, keyStatus(t, srv, done, keys[done]), r.stderr)
			}
		})
	}
}

// kill -9 while IAM has carried out a deactivation and its answer is in flight: the journal has
// the intent and no outcome. Rollback leaves the key alone by default (setupkeys cannot know it
// did it) and restores it with --include-recovered.
func TestKillDuringUpdateAccessKey(t *testing.T) {
	srv, env, plan, keys := setupKeys(t, "kill-alice")
	_, cmd, wait, journal := applyHeld(t, srv, env, plan)
	cmd.Process.Kill()
	if r := wait(30 * time.Second); r.code != -1 {
		t.Fatalf("exit %d after kill -9", r.code)
	}
	id := keys["kill-alice"]
	if s := keyStatus(t, srv, "kill-alice", id); s != "Inactive" {
		t.Fatalf("moto did not carry out the held call: the key is %s", s)
	}
	entries, err := remediate.ReadJournal(journal)
	if err != nil || len(entries) != 1 || entries[0].Phase != remediate.PhaseIntent {
		t.Fatalf("journal after kill -9: %+v, %v", entries, err)
	}
	r := run(t, env, "", "rollback", journal, "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "--include-recovered") || keyStatus(t, srv, "kill-alice", id) != "Inactive" {
		t.Errorf("rollback: exit %d, key %s; stdout:\n%s\nstderr:\n%s", r.code, keyStatus(t, srv, "kill-alice", id), r.stdout, r.stderr)
	}
	r = run(t, env, "", "rollback", journal, "--yes", "--include-recovered")
	if r.code != 0 || keyStatus(t, srv, "kill-alice", id) != "Active" {
		t.Errorf("rollback --include-recovered: exit %d, key %s; stdout:\n%s\nstderr:\n%s", r.code, keyStatus(t, srv, "kill-alice", id), r.stdout, r.stderr)
	}
}

// --account-timeout bounds an account's audit, assuming its role included: with the answer to
// sts:AssumeRole held for good, the member account fails at its deadline, the message naming the
// account and the timeout, long before the call timeout.
func TestAccountTimeoutCoversAssumeRole(t *testing.T) {
	srv := moto.Shared(t)
	proxy := newHoldingProxy(t, srv.URL(), "AssumeRole")
	env := append(motoEnv(t, srv, moto.DefaultAccountID), "AWS_ENDPOINT_URL="+proxy.url)
	const member = "222233334444"
	_, wait := start(t, env, "audit", "--accounts", member, "--account-timeout", "2s", "--call-timeout", "10m", "--quiet")
	r := wait(60 * time.Second)
	if r.code != 1 || !strings.Contains(r.stderr, member) || !strings.Contains(r.stderr, "timed out after 2s (--account-timeout)") {
		t.Fatalf("exit %d, want 1 naming %s and the timeout; stderr:\n%s", r.code, member, r.stderr)
	}
}
