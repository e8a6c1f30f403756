package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/remediate"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// The same live state gives the same answer from every path that asks "which key does the rule
// flag now": audit (live report, flagged keys re-checked), audit --exact (API only), plan, plan
// --report OLD --resolve (a report saved before the change) and apply's check right before acting
// (a plan naming every key of the user, as an edited or stale plan would). All of them go through
// internal/keycheck; moto's clock is moved (faketime) to make users and keys in the past.
func TestKeyCheckSameAnswerEveryPathAgainstMoto(t *testing.T) {
	const user = "casey"
	tests := []struct {
		name string
		// build makes the user and keys 200 days ago; change alters them after the report and
		// before every path runs. flagged are the indexes of the keys the rule flags now.
		build   func(t *testing.T, srv *moto.Server, cfg aws.Config) made
		change  func(t *testing.T, srv *moto.Server, client *iam.Client, m made)
		flagged []int
	}{
		{
			name:    "nothing changed: the setup key fails everywhere",
			build:   consoleUserWithKeys(1),
			flagged: []int{0},
		},
		{
			name:  "console password removed after the report",
			build: consoleUserWithKeys(1),
			change: func(t *testing.T, _ *moto.Server, c *iam.Client, _ made) {
				must(t, call(c.DeleteLoginProfile(context.Background(), &iam.DeleteLoginProfileInput{UserName: aws.String(user)})))
			},
		},
		{
			name:   "key used since the report",
			build:  consoleUserWithKeys(1),
			change: func(t *testing.T, srv *moto.Server, _ *iam.Client, m made) { srv.UseKey(t, m.keys[0]) },
		},
		{
			name:  "key deactivated since the report",
			build: consoleUserWithKeys(1),
			change: func(t *testing.T, _ *moto.Server, c *iam.Client, m made) {
				must(t, call(c.UpdateAccessKey(context.Background(), &iam.UpdateAccessKeyInput{UserName: aws.String(user), AccessKeyId: m.keys[0].AccessKeyId, Status: iamtypes.StatusTypeInactive})))
			},
		},
		{
			name:    "twins made in one second, both never used",
			build:   consoleUserWithKeys(2),
			flagged: []int{0, 1},
		},
		{
			name:  "twins made in one second, one used since the report",
			build: consoleUserWithKeys(2),
			change: func(t *testing.T, srv *moto.Server, _ *iam.Client, m made) {
				srv.UseKey(t, m.keys[1])
			},
			flagged: []int{0},
		},
		{
			name:  "user deleted since the report",
			build: consoleUserWithKeys(1),
			change: func(t *testing.T, _ *moto.Server, c *iam.Client, m made) {
				ctx := context.Background()
				must(t, call(c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: m.keys[0].AccessKeyId})))
				must(t, call(c.DeleteLoginProfile(ctx, &iam.DeleteLoginProfileInput{UserName: aws.String(user)})))
				must(t, call(c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(user)})))
			},
		},
		{
			name: "key made a day after the user, outside the window",
			build: func(t *testing.T, srv *moto.Server, cfg aws.Config) made {
				var m made
				srv.InPast(t, 200*24*time.Hour, func() { m.user = moto.CreateConsoleUser(t, cfg, user) })
				srv.InPast(t, 199*24*time.Hour, func() { m.keys = append(m.keys, moto.CreateAccessKey(t, cfg, user)) })
				return m
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := moto.Shared(t)
			cfg := srv.Config(t, moto.DefaultAccountID)
			client := iam.NewFromConfig(cfg)
			m := tt.build(t, srv, cfg)
			dir := t.TempDir()
			report := filepath.Join(dir, "report.csv")
			os.WriteFile(report, credentialReport(t, client), 0o600)
			// apply's input: every key of the user planned as fail, made before the change.
			edited := filepath.Join(dir, "edited.json")
			var findings []setupkeys.Finding
			for i, k := range m.keys {
				id := aws.ToString(k.AccessKeyId)
				findings = append(findings, setupkeys.Finding{
					ID:        setupkeys.FindingID(moto.DefaultAccountID, aws.ToString(m.user.Arn), i+1, aws.ToTime(k.CreateDate)),
					AccountID: moto.DefaultAccountID, User: user, ARN: aws.ToString(m.user.Arn), KeySlot: i + 1, AccessKeyID: &id,
					Status: setupkeys.StatusFail, UserCreated: aws.ToTime(m.user.CreateDate), KeyCreated: aws.ToTime(k.CreateDate),
				})
			}
			p, err := remediate.NewPlan(findings, moto.DefaultAccountID, setupkeys.Source{Kind: setupkeys.SourceLiveAPI}, false, 0, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Save(edited); err != nil {
				t.Fatal(err)
			}
			if tt.change != nil {
				tt.change(t, srv, client, m)
			}
			useEnv(t, srv, moto.DefaultAccountID)

			var want []string
			for _, i := range tt.flagged {
				want = append(want, aws.ToString(m.keys[i].AccessKeyId))
			}
			slices.Sort(want)
			answers := map[string][]string{}
			for _, args := range [][]string{{"audit"}, {"audit", "--exact"}} {
				code, out, errOut := runCLI(t, "", append(args, "--format", "json")...)
				if code != ExitOK && code != ExitFailed {
					t.Fatalf("%v: exit %d\n%s", args, code, errOut)
				}
				answers[strings.Join(args, " ")] = failingKeys(t, out)
			}
			for name, args := range map[string][]string{"plan": {"plan"}, "plan --report --resolve": {"plan", "--report", report, "--resolve"}} {
				path := filepath.Join(dir, strings.ReplaceAll(name, " ", "")+".json")
				if code, _, errOut := runCLI(t, "", append(args, "-o", path)...); code != ExitOK {
					t.Fatalf("%s: exit %d\n%s", name, code, errOut)
				}
				answers[name] = nonNil(planKeyIDs(t, path))
			}
			journal := filepath.Join(dir, "apply.jsonl")
			code, out, errOut := runCLI(t, "", "apply", edited, "--yes", "--journal", journal)
			wantCode := ExitOK
			if len(want) == 0 {
				wantCode = ExitError // nothing the plan named could run
			}
			if code != wantCode {
				t.Errorf("apply: exit %d, want %d\n%s%s", code, wantCode, out, errOut)
			}
			answers["apply's check"] = deactivated(t, journal)

			for path, got := range answers {
				if !slices.Equal(got, nonNil(want)) {
					t.Errorf("%s flags %v, want %v", path, got, want)
				}
			}
			if len(answers) != 5 {
				t.Errorf("paths run: %v", answers)
			}
		})
	}
}

// consoleUserWithKeys makes a console user with n keys made at its setup, 200 days ago. Twins
// (n = 2) must share a creation second: if moto's clock ticked between them, it starts again.
func consoleUserWithKeys(n int) func(t *testing.T, srv *moto.Server, cfg aws.Config) made {
	return func(t *testing.T, srv *moto.Server, cfg aws.Config) made {
		for attempt := 0; attempt < 5; attempt++ {
			var m made
			srv.InPast(t, 200*24*time.Hour, func() {
				m.user = moto.CreateConsoleUser(t, cfg, "casey")
				for range n {
					m.keys = append(m.keys, moto.CreateAccessKey(t, cfg, "casey"))
				}
			})
			if sameSecond(m.keys) {
				return m
			}
			srv.Reset(t)
		}
		t.Fatal("could not make keys in one second")
		return made{}
	}
}

// made is a user and its keys as moto answered their creation.
type made struct {
	user iamtypes.User
	keys []iamtypes.AccessKey
}

func sameSecond(keys []iamtypes.AccessKey) bool {
	for _, k := range keys {
		if !aws.ToTime(k.CreateDate).Truncate(time.Second).Equal(aws.ToTime(keys[0].CreateDate).Truncate(time.Second)) {
			return false
		}
	}
	return true
}

func credentialReport(t *testing.T, c *iam.Client) []byte {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Content
}

// failingKeys reads the key IDs of the fail findings of an audit's JSON, sorted.
func failingKeys(t *testing.T, out string) []string {
	t.Helper()
	var doc struct {
		Findings []struct {
			Status      string  `json:"status"`
			AccessKeyID *string `json:"access_key_id"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, out)
	}
	ids := []string{}
	for _, f := range doc.Findings {
		if f.Status == "fail" {
			ids = append(ids, aws.ToString(f.AccessKeyID))
		}
	}
	slices.Sort(ids)
	return ids
}

// deactivated reads the keys a journal records as done, sorted.
func deactivated(t *testing.T, journal string) []string {
	t.Helper()
	entries, err := remediate.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, e := range entries {
		if e.Phase == remediate.PhaseDone {
			ids = append(ids, e.AccessKeyID)
		}
	}
	slices.Sort(ids)
	return ids
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func call[T any](_ T, err error) error { return err }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
