package moto_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

const day = 24 * time.Hour

// otherAccount is any 12-digit account other than moto's default.
const otherAccount = "210987654321"

// TestStart starts a private server, checks it answers, and checks that the
// end of its test kills it.
func TestStart(t *testing.T) {
	var url string
	t.Run("private", func(t *testing.T) {
		srv := moto.Start(t)
		url = srv.URL()
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("URL() = %q, want a loopback URL", url)
		}
		cfg := srv.Config(t, moto.DefaultAccountID)
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("GetCallerIdentity: %v", err)
		}
		if got := aws.ToString(id.Account); got != moto.DefaultAccountID {
			t.Errorf("account = %s, want %s", got, moto.DefaultAccountID)
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(url + "/moto-api/data.json"); err == nil {
		resp.Body.Close()
		t.Fatalf("the private server still answers at %s after its test ended", url)
	}
}

func TestResetClearsUsers(t *testing.T) {
	srv := moto.Shared(t)
	def := srv.Config(t, moto.DefaultAccountID)
	other := srv.Config(t, otherAccount)
	moto.CreateConsoleUser(t, def, "alice")
	moto.CreateProgrammaticUser(t, other, "bob")
	srv.SetClock(t, -100*day)

	srv.Reset(t)

	for _, c := range []struct {
		account string
		cfg     aws.Config
	}{
		{moto.DefaultAccountID, srv.Config(t, moto.DefaultAccountID)},
		{otherAccount, srv.Config(t, otherAccount)},
	} {
		if users := listUsers(t, c.cfg); len(users) != 0 {
			t.Errorf("account %s after Reset: users %v, want none", c.account, users)
		}
	}
	// Reset also puts the clock back.
	u := moto.CreateProgrammaticUser(t, def, "carol")
	assertNear(t, "CreateDate after Reset", aws.ToTime(u.CreateDate), time.Now())

	// A config for another account made before the Reset must not be
	// usable: moto forgot its credentials and would serve the default
	// account instead.
	_, err := iam.NewFromConfig(other).ListUsers(context.Background(), &iam.ListUsersInput{})
	if err == nil || !strings.Contains(err.Error(), "before a Reset") {
		t.Errorf("stale config: err = %v, want the refusal after Reset", err)
	}
	// Why the refusal: without it the same credentials silently reach the
	// default account.
	creds, err := other.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw := srv.Config(t, moto.DefaultAccountID)
	raw.Credentials = credentials.StaticCredentialsProvider{Value: creds}
	id, err := sts.NewFromConfig(raw).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(id.Account); got != moto.DefaultAccountID {
		t.Errorf("forgotten assumed-role credentials reach account %s, want the default %s", got, moto.DefaultAccountID)
	}
}

func TestAccountIsolation(t *testing.T) {
	srv := moto.Shared(t)
	accounts := []struct {
		id    string
		users []string
	}{
		{moto.DefaultAccountID, []string{"alice"}},
		{otherAccount, []string{"bob", "carol"}},
		{"111122223333", []string{"dave"}},
	}
	cfgs := map[string]aws.Config{}
	for _, a := range accounts {
		cfgs[a.id] = srv.Config(t, a.id)
		for _, u := range a.users {
			moto.CreateConsoleUser(t, cfgs[a.id], u)
		}
	}
	for _, a := range accounts {
		t.Run(a.id, func(t *testing.T) {
			cfg := cfgs[a.id]
			id, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(id.Account); got != a.id {
				t.Errorf("GetCallerIdentity account = %s, want %s", got, a.id)
			}
			users := listUsers(t, cfg)
			var names []string
			for _, u := range users {
				names = append(names, aws.ToString(u.UserName))
				if arn := aws.ToString(u.Arn); !strings.HasPrefix(arn, "arn:aws:iam::"+a.id+":user/") {
					t.Errorf("user ARN %s is not in account %s", arn, a.id)
				}
			}
			if strings.Join(names, ",") != strings.Join(a.users, ",") {
				t.Errorf("users = %v, want %v", names, a.users)
			}
			rows := credentialReport(t, cfg)
			if len(rows) != len(a.users) {
				t.Errorf("credential report has %d users, want %d: %v", len(rows), len(a.users), rows)
			}
		})
	}
}

func TestPastClockSetsCreateDate(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	// Before IAM began tracking key use: the rule's "review" case.
	beforeTracking := time.Since(time.Date(2015, 1, 10, 0, 0, 0, 0, time.UTC)).Truncate(time.Second)
	for i, tc := range []struct {
		name string
		ago  time.Duration
	}{
		{"200 days", 200 * day},
		{"1 hour", time.Hour},
		{"before 2015-04-22", beforeTracking},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "user" + string(rune('a'+i))
			var user types.User
			var key types.AccessKey
			srv.InPast(t, tc.ago, func() {
				user = moto.CreateConsoleUser(t, cfg, name)
				key = moto.CreateAccessKey(t, cfg, name)
			})
			want := time.Now().Add(-tc.ago)
			assertNear(t, "user CreateDate", aws.ToTime(user.CreateDate), want)
			assertNear(t, "key CreateDate", aws.ToTime(key.CreateDate), want)

			// InPast put the clock back: what follows is now.
			later := moto.CreateAccessKey(t, cfg, name)
			assertNear(t, "CreateDate after InPast", aws.ToTime(later.CreateDate), time.Now())

			row := credentialReport(t, cfg)[name]
			if row == nil {
				t.Fatalf("no report row for %s", name)
			}
			assertNear(t, "report user_creation_time", parseReportTime(t, row["user_creation_time"]), want)
			assertNear(t, "report access_key_1_last_rotated", parseReportTime(t, row["access_key_1_last_rotated"]), want)
			assertNear(t, "report access_key_2_last_rotated", parseReportTime(t, row["access_key_2_last_rotated"]), time.Now())
		})
	}
}

func TestUseKeySetsLastUsedDate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		use         func(t *testing.T, srv *moto.Server, key types.AccessKey)
		wantService string
	}{
		{"UseKey (sts GetCallerIdentity)", func(t *testing.T, srv *moto.Server, key types.AccessKey) { srv.UseKey(t, key) }, "sts"},
		{"iam GetUser signed by the key", func(t *testing.T, srv *moto.Server, key types.AccessKey) {
			_, err := iam.NewFromConfig(keyConfig(t, srv, key)).GetUser(context.Background(), &iam.GetUserInput{})
			if err != nil {
				t.Fatal(err)
			}
		}, "iam"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := moto.Shared(t)
			cfg := srv.Config(t, otherAccount) // works outside the default account too
			moto.CreateConsoleUser(t, cfg, "alice")
			key := moto.CreateAccessKey(t, cfg, "alice")
			unused := moto.CreateAccessKey(t, cfg, "alice")

			tc.use(t, srv, key)

			used := lastUsed(t, cfg, key)
			if used.LastUsedDate == nil {
				t.Fatalf("LastUsedDate is nil after use: %+v", used)
			}
			assertNear(t, "LastUsedDate", *used.LastUsedDate, time.Now())
			if got := aws.ToString(used.ServiceName); got != tc.wantService {
				t.Errorf("ServiceName = %q, want %q", got, tc.wantService)
			}
			if got := aws.ToString(used.Region); got != moto.Region {
				t.Errorf("Region = %q, want %q", got, moto.Region)
			}
			never := lastUsed(t, cfg, unused)
			if never.LastUsedDate != nil {
				t.Errorf("the other key has LastUsedDate %v, want none", never.LastUsedDate)
			}
			row := credentialReport(t, cfg)["alice"]
			assertNear(t, "report access_key_1_last_used_date", parseReportTime(t, row["access_key_1_last_used_date"]), time.Now())
			if got := row["access_key_2_last_used_date"]; got != "N/A" {
				t.Errorf("access_key_2_last_used_date = %q, want N/A", got)
			}
		})
	}
}

func TestUseKeyInPast(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	var key types.AccessKey
	srv.InPast(t, 300*day, func() {
		moto.CreateConsoleUser(t, cfg, "alice")
		key = moto.CreateAccessKey(t, cfg, "alice")
	})
	srv.InPast(t, 100*day, func() { srv.UseKey(t, key) })
	used := lastUsed(t, cfg, key)
	if used.LastUsedDate == nil {
		t.Fatal("LastUsedDate is nil after use")
	}
	assertNear(t, "LastUsedDate", *used.LastUsedDate, time.Now().Add(-100*day))
}

func TestCredentialReportRow(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	console := moto.CreateConsoleUser(t, cfg, "alice")
	key := moto.CreateAccessKey(t, cfg, "alice")
	moto.CreateProgrammaticUser(t, cfg, "bot")

	rows := credentialReport(t, cfg)
	alice := rows["alice"]
	want := map[string]string{
		"arn":                         aws.ToString(console.Arn),
		"password_enabled":            "true",
		"access_key_1_active":         "true",
		"access_key_1_last_rotated":   aws.ToTime(key.CreateDate).UTC().Truncate(time.Second).Format("2006-01-02T15:04:05+00:00"),
		"access_key_1_last_used_date": "N/A",
		"access_key_2_active":         "false",
		"access_key_2_last_rotated":   "N/A",
		"user_creation_time":          aws.ToTime(console.CreateDate).UTC().Truncate(time.Second).Format("2006-01-02T15:04:05+00:00"),
	}
	for col, v := range want {
		if got := alice[col]; got != v {
			t.Errorf("alice %s = %q, want %q", col, got, v)
		}
	}
	if got := rows["bot"]["password_enabled"]; got != "false" {
		t.Errorf("bot password_enabled = %q, want false", got)
	}
}

// TestEnvPointsSDKAtServer checks that a program loading the SDK's default
// config (as the setupkeys binary does) from Env reaches this server as the
// right account, whatever the surrounding environment says.
func TestEnvPointsSDKAtServer(t *testing.T) {
	srv := moto.Shared(t)
	t.Setenv("AWS_PROFILE", "developer-profile-that-does-not-exist")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT000000000")
	t.Setenv("HOME", t.TempDir())
	for _, account := range []string{moto.DefaultAccountID, otherAccount} {
		for _, kv := range srv.Env(t, account) {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatalf("LoadDefaultConfig with Env(%s): %v", account, err)
		}
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("GetCallerIdentity with Env(%s): %v", account, err)
		}
		if got := aws.ToString(id.Account); got != account {
			t.Errorf("Env(%s) reaches account %s", account, got)
		}
	}
}

// keyConfig signs with key, as the key's owner would.
func keyConfig(t *testing.T, srv *moto.Server, key types.AccessKey) aws.Config {
	cfg := srv.Config(t, moto.DefaultAccountID)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKeyId), aws.ToString(key.SecretAccessKey), "")
	return cfg
}

func listUsers(t *testing.T, cfg aws.Config) []types.User {
	t.Helper()
	var users []types.User
	p := iam.NewListUsersPaginator(iam.NewFromConfig(cfg), &iam.ListUsersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		users = append(users, page.Users...)
	}
	return users
}

func lastUsed(t *testing.T, cfg aws.Config, key types.AccessKey) types.AccessKeyLastUsed {
	t.Helper()
	out, err := iam.NewFromConfig(cfg).GetAccessKeyLastUsed(context.Background(), &iam.GetAccessKeyLastUsedInput{AccessKeyId: key.AccessKeyId})
	if err != nil {
		t.Fatalf("GetAccessKeyLastUsed: %v", err)
	}
	return *out.AccessKeyLastUsed
}

// credentialReport generates and fetches the report, keyed by user then
// column.
func credentialReport(t *testing.T, cfg aws.Config) map[string]map[string]string {
	t.Helper()
	_, header, records := credentialReportRaw(t, cfg)
	rows := map[string]map[string]string{}
	for _, rec := range records {
		row := map[string]string{}
		for i, col := range header {
			row[col] = rec[i]
		}
		rows[row["user"]] = row
	}
	return rows
}

func credentialReportRaw(t *testing.T, cfg aws.Config) (*iam.GetCredentialReportOutput, []string, [][]string) {
	t.Helper()
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()
	if _, err := client.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{}); err != nil {
		t.Fatalf("GenerateCredentialReport: %v", err)
	}
	var out *iam.GetCredentialReportOutput
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		out, err = client.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
		if err == nil {
			break
		}
		var inProgress *types.CredentialReportNotReadyException
		if !errors.As(err, &inProgress) || time.Now().After(deadline) {
			t.Fatalf("GetCredentialReport: %v", err)
		}
	}
	records, err := csv.NewReader(bytes.NewReader(out.Content)).ReadAll()
	if err != nil {
		t.Fatalf("credential report CSV: %v\n%s", err, out.Content)
	}
	if len(records) == 0 {
		t.Fatal("credential report is empty, not even a header")
	}
	return out, records[0], records[1:]
}

func parseReportTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("report time %q: %v", s, err)
	}
	return v
}

// assertNear allows for second-precision report times and a slow machine.
func assertNear(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v, want about %v (off by %v)", what, got.UTC(), want.UTC(), d)
	}
}
