package keycheck

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// fakeKey is a key of fakeIAM.
type fakeKey struct {
	id, status string
	created    time.Time
	lastUsed   *time.Time
}

// fakeIAM is an in-memory IAM with one key a page in ListAccessKeys (so a check that reads one
// page misses keys), counting calls by action.
type fakeIAM struct {
	mu       sync.Mutex
	created  map[string]time.Time // user -> creation; absent = no such user
	password map[string]bool
	keys     map[string][]fakeKey
	calls    map[string]int
	// fail fails an action with the error.
	fail map[string]error
	// block makes every call wait for its context.
	block bool
}

var _ API = (*fakeIAM)(nil)

func newFake() *fakeIAM {
	return &fakeIAM{created: map[string]time.Time{}, password: map[string]bool{}, keys: map[string][]fakeKey{}, calls: map[string]int{}, fail: map[string]error{}}
}

func noSuch() error { return &smithy.GenericAPIError{Code: "NoSuchEntity", Message: "not found"} }

func (f *fakeIAM) call(ctx context.Context, action string) error {
	f.mu.Lock()
	f.calls[action]++
	err, block := f.fail[action], f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeIAM) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	if err := f.call(ctx, "ListAccessKeys"); err != nil {
		return nil, err
	}
	user := aws.ToString(in.UserName)
	if _, ok := f.created[user]; !ok {
		return nil, noSuch()
	}
	start := 0
	if in.Marker != nil {
		start, _ = strconv.Atoi(*in.Marker)
	}
	keys := f.keys[user]
	out := &iam.ListAccessKeysOutput{}
	if start < len(keys) {
		k := keys[start]
		out.AccessKeyMetadata = []types.AccessKeyMetadata{{AccessKeyId: aws.String(k.id), Status: types.StatusType(k.status), CreateDate: aws.Time(k.created), UserName: aws.String(user)}}
	}
	if start+1 < len(keys) {
		out.IsTruncated, out.Marker = true, aws.String(strconv.Itoa(start+1))
	}
	return out, nil
}

func (f *fakeIAM) GetLoginProfile(ctx context.Context, in *iam.GetLoginProfileInput, _ ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	if err := f.call(ctx, "GetLoginProfile"); err != nil {
		return nil, err
	}
	if !f.password[aws.ToString(in.UserName)] {
		return nil, noSuch()
	}
	return &iam.GetLoginProfileOutput{LoginProfile: &types.LoginProfile{UserName: in.UserName}}, nil
}

func (f *fakeIAM) GetUser(ctx context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	if err := f.call(ctx, "GetUser"); err != nil {
		return nil, err
	}
	c, ok := f.created[aws.ToString(in.UserName)]
	if !ok {
		return nil, noSuch()
	}
	return &iam.GetUserOutput{User: &types.User{UserName: in.UserName, CreateDate: aws.Time(c)}}, nil
}

func (f *fakeIAM) GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, _ ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	if err := f.call(ctx, "GetAccessKeyLastUsed"); err != nil {
		return nil, err
	}
	for user, keys := range f.keys {
		for _, k := range keys {
			if k.id == aws.ToString(in.AccessKeyId) {
				lu := &types.AccessKeyLastUsed{Region: aws.String("N/A"), ServiceName: aws.String("N/A"), LastUsedDate: k.lastUsed}
				if k.lastUsed != nil {
					lu.Region, lu.ServiceName = aws.String("us-east-1"), aws.String("s3")
				}
				return &iam.GetAccessKeyLastUsedOutput{UserName: aws.String(user), AccessKeyLastUsed: lu}, nil
			}
		}
	}
	return nil, noSuch()
}

func TestCheck(t *testing.T) {
	at := userAt.Add(123 * time.Millisecond) // sub-second, as IAM and moto keep it
	usedAt := userAt.Add(24 * time.Hour)
	setup := func(f *fakeIAM) {
		f.created["alice"], f.password["alice"] = at, true
		// Three keys so ListAccessKeys takes three pages; the wanted one is last.
		f.keys["alice"] = []fakeKey{
			{id: "AKIAOLD", status: "Inactive", created: at.Add(-time.Hour)},
			{id: "AKIAUSED", status: "Active", created: at.Add(5 * time.Second), lastUsed: &usedAt},
			{id: "AKIAFLAG", status: "Active", created: at.Add(2 * time.Second)},
		}
		f.created["bob"] = at
		f.keys["bob"] = []fakeKey{{id: "AKIABOB", status: "Active", created: at.Add(2 * time.Second)}}
	}
	sec := userAt.Add(2 * time.Second)
	tests := []struct {
		name      string
		req       Request
		change    func(f *fakeIAM)
		want      []string
		wantCalls map[string]int
		wantErr   string
	}{
		{
			name:      "report key on the last page: found, password and last use read",
			req:       report(Want{Slot: 1, Created: sec}),
			want:      []string{"1:AKIAFLAG=fail"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1, "GetAccessKeyLastUsed": 1},
		},
		{
			name:      "plan entry: GetUser for the user's creation",
			req:       planned(Want{Slot: 1, ID: "AKIAFLAG", Created: sec}),
			want:      []string{"1:AKIAFLAG=fail"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1, "GetUser": 1, "GetAccessKeyLastUsed": 1},
		},
		{
			name:      "plan entry used since",
			req:       planned(Want{Slot: 2, ID: "AKIAUSED", Created: userAt.Add(5 * time.Second)}),
			want:      []string{"2:AKIAUSED=pass"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1, "GetUser": 1, "GetAccessKeyLastUsed": 1},
		},
		{
			name:      "plan entry naming bob's key for alice",
			req:       planned(Want{Slot: 1, ID: "AKIABOB", Created: sec}),
			want:      []string{"1:-!other-user"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetAccessKeyLastUsed": 1},
		},
		{
			name:      "plan entry for a user without a password: no GetUser, no last use",
			req:       Request{User: "bob", Keys: []Want{{Slot: 1, ID: "AKIABOB", Created: sec}}},
			want:      []string{"1:AKIABOB!no-password"},
			wantCalls: map[string]int{"ListAccessKeys": 1, "GetLoginProfile": 1},
		},
		{
			name:      "inactive key: only ListAccessKeys",
			req:       report(Want{Slot: 1, Created: userAt.Add(-time.Hour)}),
			want:      []string{"1:AKIAOLD!inactive"},
			wantCalls: map[string]int{"ListAccessKeys": 3},
		},
		{
			name:      "every key of the user (an API-only audit), in ListAccessKeys order",
			req:       Request{User: "alice", UserCreated: userAt, AllKeys: true},
			want:      []string{"1:AKIAOLD!inactive", "2:AKIAUSED=pass", "3:AKIAFLAG=fail"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1, "GetAccessKeyLastUsed": 2},
		},
		{
			name:      "user deleted",
			req:       Request{User: "carol", Keys: []Want{{Slot: 1, Created: sec}}},
			want:      []string{"1:-!user-gone"},
			wantCalls: map[string]int{"ListAccessKeys": 1},
		},
		{
			name:      "user deleted between ListAccessKeys and GetUser",
			req:       planned(Want{Slot: 1, ID: "AKIAFLAG", Created: sec}),
			change:    func(f *fakeIAM) { f.fail["GetUser"] = noSuch() },
			want:      []string{"1:-!user-gone"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1, "GetUser": 1},
		},
		{
			name:      "key deleted between ListAccessKeys and GetAccessKeyLastUsed",
			req:       report(Want{Slot: 1, Created: sec}),
			change:    func(f *fakeIAM) { f.fail["GetAccessKeyLastUsed"] = noSuch() },
			want:      []string{"1:AKIAFLAG!key-gone"},
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1, "GetAccessKeyLastUsed": 1},
		},
		{
			name: "access denied is an error naming the user and the call",
			req:  report(Want{Slot: 1, Created: sec}),
			change: func(f *fakeIAM) {
				f.fail["GetLoginProfile"] = &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}
			},
			wantErr:   "user alice: iam GetLoginProfile: api error AccessDenied",
			wantCalls: map[string]int{"ListAccessKeys": 3, "GetLoginProfile": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			setup(f)
			if tt.change != nil {
				tt.change(f)
			}
			res, err := Check(context.Background(), f, tt.req, Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" {
				var got []string
				for _, d := range res.Keys {
					got = append(got, outcome(d))
				}
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Errorf("decisions = %v, want %v", got, tt.want)
				}
			}
			for _, action := range []string{"ListAccessKeys", "GetLoginProfile", "GetUser", "GetAccessKeyLastUsed"} {
				if f.calls[action] != tt.wantCalls[action] {
					t.Errorf("%s calls = %d, want %d", action, f.calls[action], tt.wantCalls[action])
				}
			}
		})
	}
}

// Every check has a bounded wait: a call that never answers ends with the timeout.
func TestCheckTimeout(t *testing.T) {
	f := newFake()
	f.created["alice"] = userAt
	f.block = true
	start := time.Now()
	_, err := Check(context.Background(), f, report(Want{Slot: 1, Created: userAt}), Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}
