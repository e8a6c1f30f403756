package source

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// fakeIAM is a function-field fake of the IAM calls the live sources make. A nil field fails the
// call, so a test notices a call it did not expect.
type fakeIAM struct {
	GenerateCredentialReportFn func(context.Context, *iam.GenerateCredentialReportInput) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReportFn      func(context.Context, *iam.GetCredentialReportInput) (*iam.GetCredentialReportOutput, error)
	ListUsersFn                func(context.Context, *iam.ListUsersInput) (*iam.ListUsersOutput, error)
	GetLoginProfileFn          func(context.Context, *iam.GetLoginProfileInput) (*iam.GetLoginProfileOutput, error)
	GetUserFn                  func(context.Context, *iam.GetUserInput) (*iam.GetUserOutput, error)
	ListAccessKeysFn           func(context.Context, *iam.ListAccessKeysInput) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsedFn     func(context.Context, *iam.GetAccessKeyLastUsedInput) (*iam.GetAccessKeyLastUsedOutput, error)
}

var (
	_ ReportAPI = (*fakeIAM)(nil)
	_ ExactAPI  = (*fakeIAM)(nil)
)

var errUnexpected = errors.New("fakeIAM: unexpected call")

func (f *fakeIAM) GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, _ ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	if f.GenerateCredentialReportFn == nil {
		return nil, fmt.Errorf("%w: GenerateCredentialReport", errUnexpected)
	}
	return f.GenerateCredentialReportFn(ctx, in)
}

func (f *fakeIAM) GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, _ ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	if f.GetCredentialReportFn == nil {
		return nil, fmt.Errorf("%w: GetCredentialReport", errUnexpected)
	}
	return f.GetCredentialReportFn(ctx, in)
}

func (f *fakeIAM) ListUsers(ctx context.Context, in *iam.ListUsersInput, _ ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	if f.ListUsersFn == nil {
		return nil, fmt.Errorf("%w: ListUsers", errUnexpected)
	}
	return f.ListUsersFn(ctx, in)
}

func (f *fakeIAM) GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, _ ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	if f.GetLoginProfileFn == nil {
		return nil, fmt.Errorf("%w: GetLoginProfile", errUnexpected)
	}
	return f.GetLoginProfileFn(ctx, in)
}

func (f *fakeIAM) GetUser(ctx context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	if f.GetUserFn == nil {
		return nil, fmt.Errorf("%w: GetUser", errUnexpected)
	}
	return f.GetUserFn(ctx, in)
}

func (f *fakeIAM) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	if f.ListAccessKeysFn == nil {
		return nil, fmt.Errorf("%w: ListAccessKeys", errUnexpected)
	}
	return f.ListAccessKeysFn(ctx, in)
}

func (f *fakeIAM) GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, _ ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	if f.GetAccessKeyLastUsedFn == nil {
		return nil, fmt.Errorf("%w: GetAccessKeyLastUsed", errUnexpected)
	}
	return f.GetAccessKeyLastUsedFn(ctx, in)
}

const testAccount = "111122223333"

// now is the fake clock's start; users are made long before it.
var now = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// fakeKey and fakeUser model one account's IAM state.
type fakeKey struct {
	id       string
	created  time.Time
	status   types.StatusType
	lastUsed time.Time
}

type fakeUser struct {
	name     string
	created  time.Time
	password bool
	keys     []*fakeKey
}

// fakeAccount serves IAM from its model, with real pagination (Marker/IsTruncated, userPage users
// and keyPage keys a page), counts calls and in-flight requests, and fails calls on request.
type fakeAccount struct {
	mu          sync.Mutex
	users       []*fakeUser
	userPage    int
	keyPage     int
	calls       map[string]int
	inflight    int
	maxInflight int
	// report is the credential report served by GetCredentialReport, made by snapshot.
	report    []byte
	generated time.Time
	// failOn[action][user name or key ID] fails that call with the error.
	failOn map[string]map[string]error
	// delay, when set, makes each per-user call take a random short while (to shuffle finish order).
	delay  bool
	nextID int
}

func newFakeAccount() *fakeAccount {
	return &fakeAccount{userPage: 2, keyPage: 1, calls: map[string]int{}, failOn: map[string]map[string]error{}}
}

func (a *fakeAccount) addUser(name string, created time.Time, password bool) *fakeUser {
	u := &fakeUser{name: name, created: created, password: password}
	a.users = append(a.users, u)
	return u
}

// addKey gives u a key created at created, never used, active.
func (a *fakeAccount) addKey(u *fakeUser, created time.Time) *fakeKey {
	a.nextID++
	k := &fakeKey{id: fmt.Sprintf("AKIAFAKE%012d", a.nextID), created: created, status: types.StatusTypeActive}
	u.keys = append(u.keys, k)
	return k
}

func (a *fakeAccount) user(name string) *fakeUser {
	for _, u := range a.users {
		if u.name == name {
			return u
		}
	}
	return nil
}

func (a *fakeAccount) deleteUser(name string) {
	a.users = slices.DeleteFunc(a.users, func(u *fakeUser) bool { return u.name == name })
}

func (a *fakeAccount) fail(action, who string, err error) {
	if a.failOn[action] == nil {
		a.failOn[action] = map[string]error{}
	}
	a.failOn[action][who] = err
}

func arnOf(name string) string { return "arn:aws:iam::" + testAccount + ":user/" + name }

// snapshot makes the credential report of the account as it is now, the way IAM writes it:
// whole seconds, +00:00, N/A for no value, a root row first. Later changes to the model are not
// in it, as with a report up to 4 hours old.
func (a *fakeAccount) snapshot(generated time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tf := func(t time.Time) string { return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05+00:00") }
	var b strings.Builder
	b.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	fmt.Fprintf(&b, "<root_account>,arn:aws:iam::%s:root,2014-01-01T00:00:00+00:00,not_supported,no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n", testAccount)
	for _, u := range a.users {
		fmt.Fprintf(&b, "%s,%s,%s,%t,N/A,N/A,N/A,false", u.name, arnOf(u.name), tf(u.created), u.password)
		for slot := 0; slot < 2; slot++ {
			if slot >= len(u.keys) {
				b.WriteString(",false,N/A,N/A,N/A,N/A")
				continue
			}
			k := u.keys[slot]
			used, region, service := "N/A", "N/A", "N/A"
			if !k.lastUsed.IsZero() {
				used, region, service = tf(k.lastUsed), "us-east-1", "s3"
			}
			fmt.Fprintf(&b, ",%t,%s,%s,%s,%s", k.status == types.StatusTypeActive, tf(k.created), used, region, service)
		}
		b.WriteString(",false,N/A,false,N/A\n")
	}
	a.report = []byte(b.String())
	a.generated = generated
}

// enter counts a call and fails it when asked; leave ends it.
func (a *fakeAccount) enter(action, who string) error {
	a.mu.Lock()
	a.calls[action]++
	a.inflight++
	a.maxInflight = max(a.maxInflight, a.inflight)
	err := a.failOn[action][who]
	delay := a.delay
	a.mu.Unlock()
	if delay {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	}
	return err
}

func (a *fakeAccount) leave() {
	a.mu.Lock()
	a.inflight--
	a.mu.Unlock()
}

func noSuchEntity(what string) error {
	return &types.NoSuchEntityException{Message: aws.String(what + " cannot be found.")}
}

func accessDenied() error {
	return &smithy.GenericAPIError{Code: "AccessDenied", Message: "User is not authorized", Fault: smithy.FaultClient}
}

// page returns the items of one page and the marker of the next ("" at the end).
func page[T any](items []T, marker *string, size int, maxItems *int32) ([]T, string, error) {
	start := 0
	if marker != nil {
		n, err := strconv.Atoi(*marker)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", &smithy.GenericAPIError{Code: "ValidationError", Message: "bad marker"}
		}
		start = n
	}
	if maxItems != nil && int(*maxItems) < size {
		size = int(*maxItems)
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

func (a *fakeAccount) api() *fakeIAM {
	return &fakeIAM{
		GenerateCredentialReportFn: func(context.Context, *iam.GenerateCredentialReportInput) (*iam.GenerateCredentialReportOutput, error) {
			defer a.leave()
			if err := a.enter(ActionGenerateCredentialReport, ""); err != nil {
				return nil, err
			}
			return &iam.GenerateCredentialReportOutput{State: types.ReportStateTypeComplete}, nil
		},
		GetCredentialReportFn: func(context.Context, *iam.GetCredentialReportInput) (*iam.GetCredentialReportOutput, error) {
			defer a.leave()
			if err := a.enter(ActionGetCredentialReport, ""); err != nil {
				return nil, err
			}
			if a.report == nil {
				return nil, &types.CredentialReportNotPresentException{}
			}
			g := a.generated
			return &iam.GetCredentialReportOutput{Content: a.report, GeneratedTime: &g, ReportFormat: types.ReportFormatTypeTextCsv}, nil
		},
		ListUsersFn: func(_ context.Context, in *iam.ListUsersInput) (*iam.ListUsersOutput, error) {
			defer a.leave()
			if err := a.enter(ActionListUsers, ""); err != nil {
				return nil, err
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			users, next, err := page(a.users, in.Marker, a.userPage, in.MaxItems)
			if err != nil {
				return nil, err
			}
			out := &iam.ListUsersOutput{IsTruncated: next != ""}
			if next != "" {
				out.Marker = aws.String(next)
			}
			for _, u := range users {
				out.Users = append(out.Users, types.User{
					UserName: aws.String(u.name), Arn: aws.String(arnOf(u.name)),
					CreateDate: aws.Time(u.created), UserId: aws.String("AIDA" + strings.ToUpper(u.name)), Path: aws.String("/"),
				})
			}
			return out, nil
		},
		GetLoginProfileFn: func(_ context.Context, in *iam.GetLoginProfileInput) (*iam.GetLoginProfileOutput, error) {
			name := aws.ToString(in.UserName)
			defer a.leave()
			if err := a.enter(ActionGetLoginProfile, name); err != nil {
				return nil, err
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			u := a.user(name)
			if u == nil || !u.password {
				return nil, noSuchEntity("Login Profile for User " + name)
			}
			return &iam.GetLoginProfileOutput{LoginProfile: &types.LoginProfile{UserName: in.UserName, CreateDate: aws.Time(u.created)}}, nil
		},
		ListAccessKeysFn: func(_ context.Context, in *iam.ListAccessKeysInput) (*iam.ListAccessKeysOutput, error) {
			name := aws.ToString(in.UserName)
			defer a.leave()
			if err := a.enter(ActionListAccessKeys, name); err != nil {
				return nil, err
			}
			if name == "" {
				return nil, errors.New("fakeIAM: ListAccessKeys without UserName lists the caller's keys")
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			u := a.user(name)
			if u == nil {
				return nil, noSuchEntity("The user with name " + name)
			}
			keys, next, err := page(u.keys, in.Marker, a.keyPage, in.MaxItems)
			if err != nil {
				return nil, err
			}
			out := &iam.ListAccessKeysOutput{IsTruncated: next != ""}
			if next != "" {
				out.Marker = aws.String(next)
			}
			for _, k := range keys {
				out.AccessKeyMetadata = append(out.AccessKeyMetadata, types.AccessKeyMetadata{
					AccessKeyId: aws.String(k.id), CreateDate: aws.Time(k.created), Status: k.status, UserName: in.UserName,
				})
			}
			return out, nil
		},
		GetAccessKeyLastUsedFn: func(_ context.Context, in *iam.GetAccessKeyLastUsedInput) (*iam.GetAccessKeyLastUsedOutput, error) {
			id := aws.ToString(in.AccessKeyId)
			defer a.leave()
			if err := a.enter(ActionGetAccessKeyLastUsed, id); err != nil {
				return nil, err
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, u := range a.users {
				for _, k := range u.keys {
					if k.id != id {
						continue
					}
					lu := &types.AccessKeyLastUsed{ServiceName: aws.String("N/A"), Region: aws.String("N/A")}
					if !k.lastUsed.IsZero() {
						lu = &types.AccessKeyLastUsed{LastUsedDate: aws.Time(k.lastUsed), ServiceName: aws.String("sts"), Region: aws.String("eu-west-1")}
					}
					return &iam.GetAccessKeyLastUsedOutput{UserName: aws.String(u.name), AccessKeyLastUsed: lu}, nil
				}
			}
			return nil, noSuchEntity("The Access Key with id " + id)
		},
	}
}

// fakeClock is an injectable clock: Sleep moves Now forward and records the waits.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func liveOpts(clock *fakeClock) LiveOptions {
	return LiveOptions{Now: clock.Now, Sleep: clock.Sleep}
}

// step is one scripted answer of GenerateCredentialReport or GetCredentialReport.
type step struct {
	state types.ReportStateType
	err   error
}

func TestFetchReportPolling(t *testing.T) {
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded", Fault: smithy.FaultClient}
	tests := []struct {
		name         string
		generate     []step // the last step repeats
		get          []step // state unused; nil err = the report
		timeout      time.Duration
		wantGenerate int
		wantGet      int
		wantSleeps   []time.Duration
		wantErr      string
	}{
		{
			name:         "STARTED, INPROGRESS, COMPLETE",
			generate:     []step{{state: types.ReportStateTypeStarted}, {state: types.ReportStateTypeInprogress}, {state: types.ReportStateTypeComplete}},
			get:          []step{{}},
			wantGenerate: 3, wantGet: 1,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:         "a recent report is COMPLETE at once",
			generate:     []step{{state: types.ReportStateTypeComplete}},
			get:          []step{{}},
			wantGenerate: 1, wantGet: 1,
		},
		{
			name:         "LimitExceeded: wait and generate again",
			generate:     []step{{err: &types.LimitExceededException{Message: aws.String("Cannot exceed quota")}}, {err: &types.LimitExceededException{}}, {state: types.ReportStateTypeComplete}},
			get:          []step{{}},
			wantGenerate: 3, wantGet: 1,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:         "ReportInProgress: keep polling the report",
			generate:     []step{{state: types.ReportStateTypeComplete}},
			get:          []step{{err: &types.CredentialReportNotReadyException{}}, {err: &types.CredentialReportNotReadyException{}}, {}},
			wantGenerate: 1, wantGet: 3,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:         "ReportNotPresent: generate again",
			generate:     []step{{state: types.ReportStateTypeComplete}},
			get:          []step{{err: &types.CredentialReportNotPresentException{}}, {}},
			wantGenerate: 2, wantGet: 2,
			wantSleeps: []time.Duration{time.Second},
		},
		{
			name:         "ReportExpired: generate again",
			generate:     []step{{state: types.ReportStateTypeComplete}},
			get:          []step{{err: &types.CredentialReportExpiredException{}}, {}},
			wantGenerate: 2, wantGet: 2,
			wantSleeps: []time.Duration{time.Second},
		},
		{
			name:         "error codes alone are enough (generic API errors)",
			generate:     []step{{err: &smithy.GenericAPIError{Code: "LimitExceeded"}}, {state: types.ReportStateTypeComplete}},
			get:          []step{{err: &smithy.GenericAPIError{Code: "ReportInProgress"}}, {err: &smithy.GenericAPIError{Code: "ReportExpired"}}, {}},
			wantGenerate: 3, wantGet: 3,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name:         "throttling that outlasted the SDK's retries is waited out",
			generate:     []step{{err: throttle}, {state: types.ReportStateTypeComplete}},
			get:          []step{{err: throttle}, {}},
			wantGenerate: 2, wantGet: 2,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:         "waits double up to the cap",
			generate:     append(slices.Repeat([]step{{state: types.ReportStateTypeInprogress}}, 7), step{state: types.ReportStateTypeComplete}),
			get:          []step{{}},
			wantGenerate: 8, wantGet: 1,
			wantSleeps: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second, 16 * time.Second},
		},
		{
			name:         "never ready: give up at the deadline",
			generate:     []step{{state: types.ReportStateTypeInprogress}},
			timeout:      10 * time.Second,
			wantGenerate: 5,
			wantSleeps:   []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 3 * time.Second},
			wantErr:      "not ready within 10s (last: report generation INPROGRESS)",
		},
		{
			name:         "access denied fails at once",
			generate:     []step{{err: accessDenied()}},
			wantGenerate: 1,
			wantErr:      "AccessDenied",
		},
		{
			name:         "an unknown error reading the report fails",
			generate:     []step{{state: types.ReportStateTypeComplete}},
			get:          []step{{err: &smithy.GenericAPIError{Code: "ServiceFailure"}}},
			wantGenerate: 1, wantGet: 1,
			wantErr: "GetCredentialReport",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: now}
			var gen, get int
			next := func(steps []step, n int) step { return steps[min(n, len(steps)-1)] }
			generated := now.Add(-time.Minute)
			api := &fakeIAM{
				GenerateCredentialReportFn: func(context.Context, *iam.GenerateCredentialReportInput) (*iam.GenerateCredentialReportOutput, error) {
					s := next(tt.generate, gen)
					gen++
					if s.err != nil {
						return nil, s.err
					}
					return &iam.GenerateCredentialReportOutput{State: s.state}, nil
				},
				GetCredentialReportFn: func(context.Context, *iam.GetCredentialReportInput) (*iam.GetCredentialReportOutput, error) {
					s := next(tt.get, get)
					get++
					if s.err != nil {
						return nil, s.err
					}
					return &iam.GetCredentialReportOutput{Content: []byte(emptyReport), GeneratedTime: &generated}, nil
				},
			}
			opts := liveOpts(clock)
			opts.ReportTimeout = tt.timeout
			res, err := liveReport(context.Background(), api, testAccount, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if res.Err != err {
					t.Errorf("res.Err = %v, want the returned error", res.Err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if gen != tt.wantGenerate || get != tt.wantGet {
				t.Errorf("calls: Generate %d, Get %d; want %d, %d", gen, get, tt.wantGenerate, tt.wantGet)
			}
			if !slices.Equal(clock.sleeps, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", clock.sleeps, tt.wantSleeps)
			}
			if err == nil && (res.Source.GeneratedTime == nil || !res.Source.GeneratedTime.Equal(generated)) {
				t.Errorf("Source.GeneratedTime = %v, want %v", res.Source.GeneratedTime, generated)
			}
		})
	}
}

const emptyReport = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"

func TestFetchReportStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	api := &fakeIAM{GenerateCredentialReportFn: func(context.Context, *iam.GenerateCredentialReportInput) (*iam.GenerateCredentialReportOutput, error) {
		cancel()
		return &iam.GenerateCredentialReportOutput{State: types.ReportStateTypeStarted}, nil
	}}
	// The real sleep, to show it honours ctx.
	_, err := liveReport(ctx, api, testAccount, LiveOptions{PollInterval: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// statusByKey summarises findings as "user/slot=status:keyID".
func statusByKey(fs []setupkeys.Finding) []string {
	var out []string
	for _, f := range fs {
		id := "?"
		if f.AccessKeyID != nil {
			id = *f.AccessKeyID
		}
		out = append(out, fmt.Sprintf("%s/%d=%s:%s", f.User, f.KeySlot, f.Status, id))
	}
	return out
}

func hasWarning(ws []string, sub string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, sub) })
}

func TestLiveReportResolvesKeys(t *testing.T) {
	userAt := now.Add(-days(200)).Add(123456789 * time.Nanosecond) // sub-second, as moto keeps
	tests := []struct {
		name string
		// build makes the account as of the report; change alters it after the report.
		build        func(a *fakeAccount)
		change       func(a *fakeAccount)
		keepPassing  bool
		want         []string // statusByKey of the result
		wantPassed   int
		wantWarnings []string
		wantErr      string
		wantCalls    map[string]int // per-user calls only
	}{
		{
			name: "setup key never used: fail with its real key ID",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt.Add(2*time.Second))
			},
			want:      []string{"alice/1=fail:AKIAFAKE000000000001"},
			wantCalls: map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "matched to the second, truncated not rounded",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				// .9 s into the second: rounding would move it to the next second.
				a.addKey(u, userAt.Truncate(time.Second).Add(3*time.Second+900*time.Millisecond))
			},
			want:      []string{"alice/1=fail:AKIAFAKE000000000001"},
			wantCalls: map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "a key one second off is not the key: gone",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt.Add(2*time.Second))
			},
			change: func(a *fakeAccount) {
				a.user("alice").keys[0].created = a.user("alice").keys[0].created.Add(time.Second)
			},
			want:         nil,
			wantWarnings: []string{"user alice: the key created " + userAt.Add(2*time.Second).UTC().Truncate(time.Second).Format(time.RFC3339) + " (report slot 1) no longer exists"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "two keys in the same second, both unused: both fail, each with its own ID",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt.Add(time.Second))
				a.addKey(u, userAt.Add(time.Second+time.Millisecond))
			},
			want:      []string{"alice/1=fail:AKIAFAKE000000000001", "alice/2=fail:AKIAFAKE000000000002"},
			wantCalls: map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 2, ActionGetAccessKeyLastUsed: 2},
		},
		{
			name: "two keys in the same second, one used since the report: it passes, the other fails",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt.Add(time.Second))
				a.addKey(u, userAt.Add(time.Second+time.Millisecond))
			},
			change: func(a *fakeAccount) {
				a.user("alice").keys[0].lastUsed = now.Add(-time.Hour)
			},
			keepPassing:  true,
			want:         []string{"alice/1=fail:AKIAFAKE000000000002", "alice/2=pass:AKIAFAKE000000000001"},
			wantPassed:   1,
			wantWarnings: []string{"alice: key AKIA************0001 (slot 2) was used on"},
			wantCalls:    map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 2, ActionGetAccessKeyLastUsed: 2},
		},
		{
			name: "two keys in the same second, the report flags one: the unused one is it",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt.Add(time.Second)).lastUsed = now.Add(-days(3))
				a.addKey(u, userAt.Add(time.Second+time.Millisecond))
			},
			want:       []string{"alice/2=fail:AKIAFAKE000000000002"},
			wantPassed: 1,
			wantCalls:  map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 2, ActionGetAccessKeyLastUsed: 2},
		},
		{
			name: "key deleted since the report: dropped with a warning",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:       func(a *fakeAccount) { a.user("alice").keys = nil },
			wantWarnings: []string{"(report slot 1) no longer exists: finding dropped"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "key used since the report: pass",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:       func(a *fakeAccount) { a.user("alice").keys[0].lastUsed = now.Add(-time.Minute) },
			wantPassed:   1,
			wantWarnings: []string{"was used on " + now.Add(-time.Minute).Format(time.RFC3339) + ", after the credential report was made: now pass"},
			wantCalls:    map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "key used since the report, kept with --all: its reason says so",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:       func(a *fakeAccount) { a.user("alice").keys[0].lastUsed = now.Add(-time.Minute) },
			keepPassing:  true,
			want:         []string{"alice/1=pass:AKIAFAKE000000000001"},
			wantPassed:   1,
			wantWarnings: []string{"after the credential report was made: now pass"},
			wantCalls:    map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "key deactivated since the report: dropped, no last-used call",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:       func(a *fakeAccount) { a.user("alice").keys[0].status = types.StatusTypeInactive },
			wantWarnings: []string{"user alice: key AKIA************0001 (slot 1) is Inactive now: finding dropped"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "key expired since the report: dropped",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:       func(a *fakeAccount) { a.user("alice").keys[0].status = types.StatusTypeExpired },
			wantWarnings: []string{"is Expired now"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "key deleted between ListAccessKeys and GetAccessKeyLastUsed: gone",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change: func(a *fakeAccount) {
				a.fail(ActionGetAccessKeyLastUsed, "AKIAFAKE000000000001", noSuchEntity("The Access Key"))
			},
			wantWarnings: []string{"no longer exists: finding dropped"},
			wantCalls:    map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "user deleted since the report: dropped",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt)
				a.addKey(u, userAt)
			},
			change:       func(a *fakeAccount) { a.deleteUser("alice") },
			wantWarnings: []string{"user alice no longer exists (deleted since the credential report was made): 2 flagged keys dropped"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "a key re-activated since the report is reported as missed",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt)
				a.addKey(u, userAt).status = types.StatusTypeInactive
			},
			change:       func(a *fakeAccount) { a.user("alice").keys[1].status = types.StatusTypeActive },
			want:         []string{"alice/1=fail:AKIAFAKE000000000001"},
			wantWarnings: []string{"user alice: key AKIA************0002, created at " + userAt.UTC().Truncate(time.Second).Format(time.RFC3339) + ", is flagged now but the credential report did not flag it"},
			wantCalls:    map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 2, ActionGetAccessKeyLastUsed: 2},
		},
		{
			name: "review keys (before 2015-04-22) are resolved too",
			build: func(a *fakeAccount) {
				old := time.Date(2014, 5, 1, 8, 0, 0, 0, time.UTC)
				a.addKey(a.addUser("veteran", old, true), old.Add(time.Minute))
			},
			want:      []string{"veteran/1=review:AKIAFAKE000000000001"},
			wantCalls: map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "passing keys are not looked up",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt.Add(days(30)))                               // outside the window
				a.addKey(a.addUser("bob", userAt, true), userAt).lastUsed = now // used
				a.addKey(a.addUser("bot", userAt, false), userAt)               // no console password
			},
			keepPassing: true,
			want:        []string{"alice/1=pass:?", "bob/1=pass:?"},
			wantPassed:  2,
			wantCalls:   map[string]int{},
		},
		{
			name: "access denied on ListAccessKeys fails the account",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:    func(a *fakeAccount) { a.fail(ActionListAccessKeys, "alice", accessDenied()) },
			wantErr:   "user alice: iam ListAccessKeys: api error AccessDenied",
			wantCalls: map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "access denied on GetAccessKeyLastUsed fails the account",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:    func(a *fakeAccount) { a.fail(ActionGetAccessKeyLastUsed, "AKIAFAKE000000000001", accessDenied()) },
			wantErr:   "iam GetAccessKeyLastUsed AKIA************0001",
			wantCalls: map[string]int{ActionGetLoginProfile: 1, ActionListAccessKeys: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "console password removed since the report: not flagged, a warning, no last-used call",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt)
				a.addKey(u, userAt.Add(time.Minute))
			},
			change:       func(a *fakeAccount) { a.user("alice").password = false },
			wantWarnings: []string{"user alice no longer has a console password (since the report): not flagged"},
			wantCalls:    map[string]int{ActionListAccessKeys: 2, ActionGetLoginProfile: 1},
		},
		{
			name: "console password still there: kept; only the user who lost it is dropped",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
				a.addKey(a.addUser("bob", userAt, true), userAt)
			},
			change:       func(a *fakeAccount) { a.user("bob").password = false },
			want:         []string{"alice/1=fail:AKIAFAKE000000000001"},
			wantWarnings: []string{"user bob no longer has a console password (since the report): not flagged"},
			wantCalls:    map[string]int{ActionListAccessKeys: 2, ActionGetLoginProfile: 2, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "console password removed and key deleted: no GetLoginProfile needed",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change: func(a *fakeAccount) {
				a.user("alice").password = false
				a.user("alice").keys = nil
			},
			wantWarnings: []string{"(report slot 1) no longer exists: finding dropped"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1},
		},
		{
			name: "access denied on GetLoginProfile fails the account",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
			},
			change:    func(a *fakeAccount) { a.fail(ActionGetLoginProfile, "alice", accessDenied()) },
			wantErr:   "user alice: iam GetLoginProfile: api error AccessDenied",
			wantCalls: map[string]int{ActionListAccessKeys: 1, ActionGetLoginProfile: 1},
		},
		{
			name: "a repeated report row: its finding is resolved once",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt)
				a.users = append(a.users, u) // the same row twice in the report
			},
			want:         []string{"alice/1=fail:AKIAFAKE000000000001"},
			wantWarnings: []string{"user alice appears again"},
			wantCalls:    map[string]int{ActionListAccessKeys: 1, ActionGetLoginProfile: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "a repeated report row of a user with two keys: each finding resolved once",
			build: func(a *fakeAccount) {
				u := a.addUser("alice", userAt, true)
				a.addKey(u, userAt.Add(time.Second))
				a.addKey(u, userAt.Add(time.Second+time.Millisecond))
				a.users = append(a.users, u)
			},
			want:         []string{"alice/1=fail:AKIAFAKE000000000001", "alice/2=fail:AKIAFAKE000000000002"},
			wantWarnings: []string{"user alice appears again"},
			wantCalls:    map[string]int{ActionListAccessKeys: 2, ActionGetLoginProfile: 1, ActionGetAccessKeyLastUsed: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAccount()
			tt.build(a)
			a.snapshot(now.Add(-2 * time.Hour))
			if tt.change != nil {
				tt.change(a)
			}
			clock := &fakeClock{t: now}
			opts := liveOpts(clock)
			opts.KeepPassing = tt.keepPassing
			res, err := liveReport(context.Background(), a.api(), testAccount, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if res.Err != err {
					t.Errorf("res.Err = %v", res.Err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := statusByKey(res.Findings); !slices.Equal(got, tt.want) && tt.wantErr == "" {
				t.Errorf("findings = %v\nwant       %v", got, tt.want)
			}
			if res.Passed != tt.wantPassed && tt.wantErr == "" {
				t.Errorf("Passed = %d, want %d", res.Passed, tt.wantPassed)
			}
			for _, w := range tt.wantWarnings {
				if !hasWarning(res.Warnings, w) {
					t.Errorf("no warning containing %q in %q", w, res.Warnings)
				}
			}
			// The report is 2 hours old: a warning says so; nothing else unexpected.
			if !hasWarning(res.Warnings, "generated at "+now.Add(-2*time.Hour).Format(time.RFC3339)+", 2h0m0s ago") {
				t.Errorf("no staleness warning in %q", res.Warnings)
			}
			if extra := len(res.Warnings) - 1 - len(tt.wantWarnings); extra != 0 && tt.wantErr == "" {
				t.Errorf("warnings = %q, want %d besides the staleness one", res.Warnings, len(tt.wantWarnings))
			}
			for _, action := range []string{ActionListAccessKeys, ActionGetAccessKeyLastUsed, ActionListUsers, ActionGetLoginProfile} {
				if got, want := a.calls[action], tt.wantCalls[action]; got != want {
					t.Errorf("%s calls = %d, want %d", action, got, want)
				}
			}
			for _, f := range res.Findings {
				if f.AccountID != testAccount || f.Source.Kind != setupkeys.SourceLiveReport || f.Source.GeneratedTime == nil {
					t.Errorf("finding %s: account %q source %+v", f.User, f.AccountID, f.Source)
				}
				if !strings.HasPrefix(f.ID, setupkeys.FindingID(testAccount, f.ARN, 0, f.KeyCreated)) {
					t.Errorf("finding %s/%d: ID %s is not FindingID", f.User, f.KeySlot, f.ID)
				}
				if f.ReportLine == 0 {
					t.Errorf("finding %s/%d lost its report line", f.User, f.KeySlot)
				}
			}
		})
	}
}

func TestLiveReportUsedSinceReportEvidence(t *testing.T) {
	a := newFakeAccount()
	userAt := now.Add(-days(200))
	a.addKey(a.addUser("alice", userAt, true), userAt)
	a.snapshot(now.Add(-time.Hour / 2))
	used := now.Add(-time.Minute)
	a.user("alice").keys[0].lastUsed = used
	opts := liveOpts(&fakeClock{t: now})
	opts.KeepPassing = true
	res, err := liveReport(context.Background(), a.api(), testAccount, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 {
		t.Fatalf("findings = %v", statusByKey(res.Findings))
	}
	f := res.Findings[0]
	if f.LastUsed == nil || !f.LastUsed.Equal(used) || f.LastUsedService != "sts" || f.LastUsedRegion != "eu-west-1" {
		t.Errorf("evidence: last used %v service %q region %q", f.LastUsed, f.LastUsedService, f.LastUsedRegion)
	}
	if !strings.Contains(f.Reason, "but used on "+used.Format(time.RFC3339)+", after the credential report was made") {
		t.Errorf("reason = %q", f.Reason)
	}
	if len(res.Warnings) != 1 { // half an hour old: no staleness warning
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestLiveReportNeverUsedEvidence(t *testing.T) {
	a := newFakeAccount()
	userAt := now.Add(-days(200))
	a.addKey(a.addUser("alice", userAt, true), userAt.Add(4*time.Second))
	a.snapshot(now)
	res, err := liveReport(context.Background(), a.api(), testAccount, liveOpts(&fakeClock{t: now}))
	if err != nil {
		t.Fatal(err)
	}
	f := res.Findings[0]
	if f.LastUsed != nil || f.LastUsedService != "" || f.LastUsedRegion != "" {
		t.Errorf("a never-used key has evidence of use: %v %q %q (N/A must not leak)", f.LastUsed, f.LastUsedService, f.LastUsedRegion)
	}
	if f.GapSeconds != 4 || f.Reason != "key created at setup (4s after the user) and never used" {
		t.Errorf("gap %d reason %q", f.GapSeconds, f.Reason)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestLiveReportAccountID(t *testing.T) {
	build := func() *fakeAccount {
		a := newFakeAccount()
		userAt := now.Add(-days(200))
		a.addKey(a.addUser("alice", userAt, true), userAt)
		a.snapshot(now)
		return a
	}
	t.Run("from the caller", func(t *testing.T) {
		res, err := liveReport(context.Background(), build().api(), testAccount, liveOpts(&fakeClock{t: now}))
		if err != nil || res.AccountID != testAccount || res.Findings[0].AccountID != testAccount {
			t.Fatalf("err %v account %q", err, res.AccountID)
		}
	})
	t.Run("from the report's ARNs when the caller is unknown", func(t *testing.T) {
		res, err := liveReport(context.Background(), build().api(), "", liveOpts(&fakeClock{t: now}))
		if err != nil || res.AccountID != testAccount || res.Findings[0].AccountID != testAccount {
			t.Fatalf("err %v account %q", err, res.AccountID)
		}
	})
	t.Run("the caller wins over the ARNs, and the finding ID follows", func(t *testing.T) {
		const other = "999988887777"
		res, err := liveReport(context.Background(), build().api(), other, liveOpts(&fakeClock{t: now}))
		if err != nil {
			t.Fatal(err)
		}
		f := res.Findings[0]
		if res.AccountID != other || f.AccountID != other || !strings.HasPrefix(f.ID, setupkeys.FindingID(other, f.ARN, 0, f.KeyCreated)) {
			t.Errorf("account %q finding %q id %s", res.AccountID, f.AccountID, f.ID)
		}
		if !hasWarning(res.Warnings, "ARNs name account "+testAccount) {
			t.Errorf("warnings = %q", res.Warnings)
		}
	})
}

// makeAccount builds users accounts with a few flagged keys among many passing or skipped ones.
func makeAccount(users, flagged int) *fakeAccount {
	a := newFakeAccount()
	userAt := now.Add(-days(300))
	for i := 0; i < users; i++ {
		name := fmt.Sprintf("user%04d", i)
		switch {
		case i < flagged:
			u := a.addUser(name, userAt, true)
			a.addKey(u, userAt.Add(time.Second))
			if i == 0 {
				a.addKey(u, userAt.Add(time.Minute)) // two flagged keys, one list
			}
		case i%3 == 0:
			a.addKey(a.addUser(name, userAt, true), userAt.Add(days(5))) // later key: pass
		case i%3 == 1:
			a.addKey(a.addUser(name, userAt, false), userAt) // programmatic: skipped
		default:
			a.addKey(a.addUser(name, userAt, true), userAt).lastUsed = now // used: pass
		}
	}
	return a
}

// The live report costs O(1) calls for the report plus O(findings), whatever the number of users:
// per flagged user ListAccessKeys and GetLoginProfile, per flagged key GetAccessKeyLastUsed.
func TestLiveReportCallsDoNotGrowWithUsers(t *testing.T) {
	for _, users := range []int{10, 100, 2000} {
		a := makeAccount(users, 3)
		a.keyPage = 100
		a.snapshot(now)
		opts := liveOpts(&fakeClock{t: now})
		res, err := liveReport(context.Background(), a.api(), testAccount, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Findings) != 4 {
			t.Fatalf("%d users: findings %v", users, statusByKey(res.Findings))
		}
		want := map[string]int{
			ActionGenerateCredentialReport: 1,
			ActionGetCredentialReport:      1,
			ActionListAccessKeys:           3, // one per user with a flagged key (user0000 has two)
			ActionGetLoginProfile:          3, // one per user with a flagged key
			ActionGetAccessKeyLastUsed:     4, // one per flagged key
		}
		if got := a.calls; !mapsEqual(got, want) {
			t.Errorf("%d users: calls %v, want %v", users, got, want)
		}
		t.Logf("%d users, %d findings: %v", users, len(res.Findings), a.calls)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestLiveExact(t *testing.T) {
	userAt := now.Add(-days(200))
	tests := []struct {
		name        string
		build       func(a *fakeAccount)
		keepPassing bool
		concurrency int
		want        []string
		wantPassed  int
		wantUsers   int
		wantWarning string
		wantErr     string
		wantCalls   map[string]int
	}{
		{
			name: "fail, pass, skipped, in ListUsers order, then slot",
			build: func(a *fakeAccount) {
				bob := a.addUser("bob", userAt, true)
				a.addKey(bob, userAt.Add(days(40))) // slot 1: later, pass
				a.addKey(bob, userAt.Add(time.Second))
				a.addKey(a.addUser("alice", userAt, true), userAt)
				a.addKey(a.addUser("bot", userAt, false), userAt)
				a.addUser("carol", userAt, true)
				a.addKey(a.addUser("dave", userAt, true), userAt).status = types.StatusTypeInactive
			},
			want:       []string{"bob/2=fail:AKIAFAKE000000000002", "alice/1=fail:AKIAFAKE000000000003"},
			wantPassed: 1,
			wantUsers:  5,
			wantCalls: map[string]int{
				ActionListUsers:            3,     // 5 users, 2 a page
				ActionListAccessKeys:       5 + 1, // one page a key, bob has two
				ActionGetLoginProfile:      3,     // alice, bob, bot: carol and dave have no active key
				ActionGetAccessKeyLastUsed: 2,     // only the setup keys of console users
			},
		},
		{
			name: "--all: passing keys carry their last use",
			build: func(a *fakeAccount) {
				bob := a.addUser("bob", userAt, true)
				a.addKey(bob, userAt.Add(days(40))).lastUsed = now
				a.addKey(a.addUser("eve", userAt, true), userAt).lastUsed = now
			},
			keepPassing: true,
			want:        []string{"bob/1=pass:AKIAFAKE000000000001", "eve/1=pass:AKIAFAKE000000000002"},
			wantPassed:  2,
			wantUsers:   2,
			wantCalls:   map[string]int{ActionListUsers: 1, ActionListAccessKeys: 2, ActionGetLoginProfile: 2, ActionGetAccessKeyLastUsed: 2},
		},
		{
			name: "expired keys are not active",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt).status = types.StatusTypeExpired
			},
			wantUsers: 1,
			wantCalls: map[string]int{ActionListUsers: 1, ActionListAccessKeys: 1},
		},
		{
			name: "review before 2015-04-22",
			build: func(a *fakeAccount) {
				old := time.Date(2013, 1, 1, 0, 0, 0, 0, time.UTC)
				a.addKey(a.addUser("veteran", old, true), old)
			},
			want:      []string{"veteran/1=review:AKIAFAKE000000000001"},
			wantUsers: 1,
			wantCalls: map[string]int{ActionListUsers: 1, ActionListAccessKeys: 1, ActionGetLoginProfile: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "a user deleted mid-scan is a warning",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
				a.addKey(a.addUser("gone", userAt, true), userAt)
				a.fail(ActionListAccessKeys, "gone", noSuchEntity("The user with name gone"))
			},
			want:        []string{"alice/1=fail:AKIAFAKE000000000001"},
			wantUsers:   2,
			wantWarning: "user gone was deleted during the scan",
			wantCalls:   map[string]int{ActionListUsers: 1, ActionListAccessKeys: 2, ActionGetLoginProfile: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "a key deleted mid-scan is a warning",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
				a.fail(ActionGetAccessKeyLastUsed, "AKIAFAKE000000000001", noSuchEntity("The Access Key"))
			},
			wantUsers:   1,
			wantWarning: "user alice: key AKIA************0001 (slot 1) was deleted during the scan",
			wantCalls:   map[string]int{ActionListUsers: 1, ActionListAccessKeys: 1, ActionGetLoginProfile: 1, ActionGetAccessKeyLastUsed: 1},
		},
		{
			name: "access denied on GetLoginProfile fails the account",
			build: func(a *fakeAccount) {
				a.addKey(a.addUser("alice", userAt, true), userAt)
				a.fail(ActionGetLoginProfile, "alice", accessDenied())
			},
			wantErr: "user alice: iam GetLoginProfile: api error AccessDenied",
		},
		{
			name: "access denied on ListUsers fails the account",
			build: func(a *fakeAccount) {
				a.addUser("alice", userAt, true)
				a.fail(ActionListUsers, "", accessDenied())
			},
			wantErr: "iam ListUsers: api error AccessDenied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAccount()
			tt.build(a)
			opts := liveOpts(&fakeClock{t: now})
			opts.KeepPassing = tt.keepPassing
			opts.Concurrency = tt.concurrency
			res, err := liveExact(context.Background(), a.api(), testAccount, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if res.Err != err {
					t.Errorf("res.Err = %v", res.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := statusByKey(res.Findings); !slices.Equal(got, tt.want) {
				t.Errorf("findings = %v\nwant       %v", got, tt.want)
			}
			if res.Passed != tt.wantPassed || res.Users != tt.wantUsers {
				t.Errorf("Passed %d Users %d, want %d %d", res.Passed, res.Users, tt.wantPassed, tt.wantUsers)
			}
			if tt.wantWarning == "" && len(res.Warnings) > 0 || tt.wantWarning != "" && !hasWarning(res.Warnings, tt.wantWarning) {
				t.Errorf("warnings = %q, want %q", res.Warnings, tt.wantWarning)
			}
			if got := a.calls; !mapsEqual(got, tt.wantCalls) {
				t.Errorf("calls %v, want %v", got, tt.wantCalls)
			}
			for _, f := range res.Findings {
				if f.Source.Kind != setupkeys.SourceLiveAPI || f.AccountID != testAccount || f.AccessKeyID == nil {
					t.Errorf("finding %s/%d: %+v", f.User, f.KeySlot, f)
				}
				if f.KeyCreated.Nanosecond() != 0 || f.UserCreated.Nanosecond() != 0 {
					t.Errorf("finding %s/%d: times not whole seconds: %v %v", f.User, f.KeySlot, f.UserCreated, f.KeyCreated)
				}
			}
			if tt.keepPassing {
				for _, f := range res.Findings {
					if f.LastUsed == nil || f.LastUsedService != "sts" {
						t.Errorf("passing finding %s/%d lacks its last use", f.User, f.KeySlot)
					}
				}
			}
		})
	}
}

func TestLiveExactConcurrencyAndOrder(t *testing.T) {
	for _, limit := range []int{1, 3, 0} {
		a := makeAccount(60, 10)
		a.delay = true
		a.userPage = 7
		opts := liveOpts(&fakeClock{t: now})
		opts.Concurrency = limit
		res, err := liveExact(context.Background(), a.api(), testAccount, opts)
		if err != nil {
			t.Fatal(err)
		}
		wantLimit := limit
		if limit == 0 {
			wantLimit = DefaultConcurrency
		}
		if a.maxInflight > wantLimit {
			t.Errorf("Concurrency %d: %d calls in flight at once", limit, a.maxInflight)
		}
		if limit == 0 && a.maxInflight < 2 {
			t.Errorf("default concurrency: never more than %d call in flight", a.maxInflight)
		}
		if !slices.IsSortedFunc(res.Findings, func(x, y setupkeys.Finding) int {
			if c := strings.Compare(x.User, y.User); c != 0 {
				return c
			}
			return x.KeySlot - y.KeySlot
		}) {
			t.Errorf("findings not in user, slot order: %v", statusByKey(res.Findings))
		}
		if len(res.Findings) != 11 || res.Users != 60 {
			t.Errorf("findings %d users %d", len(res.Findings), res.Users)
		}
	}
}

// An error cancels the users not yet started and fails the account.
func TestLiveExactStopsOnError(t *testing.T) {
	a := makeAccount(200, 0)
	a.fail(ActionListAccessKeys, "user0005", accessDenied())
	opts := liveOpts(&fakeClock{t: now})
	opts.Concurrency = 2
	// Count the calls that start once the error has cancelled the run. The total depends on when
	// the scheduler lets the failing worker cancel (it can lag the other worker by many users),
	// so only calls made after the cancellation say whether new work still starts: at most the
	// workers that had passed their check already.
	api := a.api()
	list := api.ListAccessKeysFn
	var late atomic.Int32
	api.ListAccessKeysFn = func(ctx context.Context, in *iam.ListAccessKeysInput) (*iam.ListAccessKeysOutput, error) {
		if ctx.Err() != nil {
			late.Add(1)
		}
		return list(ctx, in)
	}
	res, err := liveExact(context.Background(), api, testAccount, opts)
	if err == nil || res.Err == nil {
		t.Fatal("no error")
	}
	if n := late.Load(); n > int32(opts.Concurrency) {
		t.Errorf("%d ListAccessKeys calls started after the error cancelled the run", n)
	}
}

// Both live sources agree on the same account: the same fail and review keys with the same IDs.
func TestLiveSourcesAgree(t *testing.T) {
	a := makeAccount(50, 6)
	old := time.Date(2014, 2, 1, 0, 0, 0, 0, time.UTC)
	a.addKey(a.addUser("veteran", old, true), old.Add(time.Second))
	a.snapshot(now)
	for _, keep := range []bool{false, true} {
		opts := liveOpts(&fakeClock{t: now})
		opts.KeepPassing = keep
		opts.Rule = rule.Options{Window: 10 * time.Minute}
		rep, err := liveReport(context.Background(), a.api(), testAccount, opts)
		if err != nil {
			t.Fatal(err)
		}
		exact, err := liveExact(context.Background(), a.api(), testAccount, opts)
		if err != nil {
			t.Fatal(err)
		}
		flagged := func(fs []setupkeys.Finding) []string {
			var out []string
			for _, s := range statusByKey(fs) {
				if !strings.Contains(s, "=pass:") {
					out = append(out, s)
				}
			}
			slices.Sort(out)
			return out
		}
		if got, want := flagged(rep.Findings), flagged(exact.Findings); !slices.Equal(got, want) || len(got) != 8 {
			t.Errorf("keep %v: report %v\nexact %v", keep, got, want)
		}
		if rep.Passed != exact.Passed {
			t.Errorf("keep %v: passed: report %d, exact %d", keep, rep.Passed, exact.Passed)
		}
		ids := func(fs []setupkeys.Finding) []string {
			var out []string
			for _, f := range fs {
				if f.Status != setupkeys.StatusPass {
					out = append(out, f.ID+" "+strconv.FormatInt(f.GapSeconds, 10))
				}
			}
			slices.Sort(out)
			return out
		}
		if !slices.Equal(ids(rep.Findings), ids(exact.Findings)) {
			t.Errorf("finding IDs and gaps differ: %v vs %v", ids(rep.Findings), ids(exact.Findings))
		}
	}
}

// The counting seam counts what it passes on, by action.
func TestCountingIAM(t *testing.T) {
	a := newFakeAccount()
	a.addKey(a.addUser("alice", now.Add(-days(9)), true), now.Add(-days(9)))
	c := counting(a.api())
	if _, err := liveExact(context.Background(), c, testAccount, LiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "GetAccessKeyLastUsed=1 GetLoginProfile=1 ListAccessKeys=1 ListUsers=1" || !mapsEqual(c.n, a.calls) {
		t.Errorf("counted %s, the fake saw %v", got, a.calls)
	}
}
