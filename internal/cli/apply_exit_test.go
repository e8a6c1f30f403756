package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/memiam"
)

// apply's exit code: 0 when every planned key was done or skipped (changed since the plan, which
// a person may have done on purpose), 1 when a key could not be verified or acted on, even
// among done ones: its check failed, or the plan does not describe it (refused); 1 too when
// nothing could be acted on.
func TestApplyExitCodes(t *testing.T) {
	const acct = "111111111111"
	tests := []struct {
		name string
		// change alters the live account or the plan file after the plan was made.
		change   func(f *memiam.Fake, p *remediate.Plan)
		wantCode int
		wantOut  string // in the summary
		wantErr  string // in the error message ("" for none)
	}{
		{name: "all done", wantCode: ExitOK, wantOut: "deactivate: 3 deactivated"},
		{
			name: "one used since the plan: skipped, the others done",
			change: func(f *memiam.Fake, _ *remediate.Plan) {
				f.Update(acct, "setup-1", func(u *memiam.User) { at := fixedNow; u.Keys[0].LastUsed = &at })
			},
			wantCode: ExitOK, wantOut: "deactivate: 2 deactivated, 1 skipped",
		},
		{
			name: "one whose password was removed: skipped, the others done",
			change: func(f *memiam.Fake, _ *remediate.Plan) {
				f.Update(acct, "setup-2", func(u *memiam.User) { u.Console = false })
			},
			wantCode: ExitOK, wantOut: "deactivate: 2 deactivated, 1 skipped",
		},
		{
			name: "every key changed since: nothing could run",
			change: func(f *memiam.Fake, _ *remediate.Plan) {
				for _, name := range []string{"setup-0", "setup-1", "setup-2"} {
					f.RemoveUser(acct, name)
				}
			},
			wantCode: ExitError, wantOut: "deactivate: 3 skipped", wantErr: "none of the plan's 3 keys could be acted on",
		},
		{
			name: "the plan names a user created at another time: refused, the others done",
			change: func(_ *memiam.Fake, p *remediate.Plan) {
				p.Actions[1].Preconditions.UserCreated = p.Actions[1].Preconditions.UserCreated.Add(-time.Hour)
			},
			wantCode: ExitError, wantOut: "deactivate: 2 deactivated, 1 refused",
			wantErr: "1 key refused: the plan does not describe them (edited, or made for another account)",
		},
		{
			name: "the check of one key keeps failing: failed, the others done",
			change: func(f *memiam.Fake, _ *remediate.Plan) {
				f.Fail(func(_, action, user string) error {
					if action == "ListAccessKeys" && user == "setup-0" {
						return errors.New("ServiceFailure: the fake's outage")
					}
					return nil
				})
			},
			wantCode: ExitError, wantOut: "deactivate: 2 deactivated, 1 failed", wantErr: "1 key failed; run again with the same journal",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := memiam.New()
			fake.AddAccount(acct, "management")
			seedSetupUsers(fake, acct, 3)
			clients := memClients{fake, acct}
			plan := t.TempDir() + "/plan.json"
			if code, _, errOut := runCLIWith(t, clients, false, "", "plan", "--exact", "-o", plan); code != ExitOK {
				t.Fatalf("plan: exit %d\n%s", code, errOut)
			}
			if tt.change != nil {
				p, err := remediate.LoadPlan(plan)
				if err != nil {
					t.Fatal(err)
				}
				tt.change(fake, p)
				if err := p.Save(plan); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := runCLIWith(t, clients, false, "", "apply", plan, "--yes")
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Errorf("exit %d, want %d; want %q in the summary\n%s\n%s", code, tt.wantCode, tt.wantOut, out, errOut)
			}
			if tt.wantErr != "" && !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("want %q in\n%s", tt.wantErr, errOut)
			}
		})
	}
}
