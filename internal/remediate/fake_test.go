package remediate

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// fakeIAM is a small in-memory IAM: users with keys, ListAccessKeys that really pages (one key
// per page), and hooks to fail or observe any call.
type fakeIAM struct {
	mu    sync.Mutex
	users map[string][]*fakeKey
	// people holds each user's creation and console password; a user made by addKey is a
	// console user created when its first key was: the rule flags its keys.
	people map[string]*fakePerson
	// before, when set, runs before every call; a non-nil error is returned instead.
	before func(op string, keyID string) error
	// writes counts UpdateAccessKey/DeleteAccessKey calls per "op keyID".
	writes map[string]int
	calls  []string
}

type fakeKey struct {
	id       string
	status   string
	created  time.Time
	lastUsed *time.Time
}

type fakePerson struct {
	created    time.Time
	noPassword bool
}

var _ IAM = (*fakeIAM)(nil)

func newFakeIAM() *fakeIAM {
	return &fakeIAM{users: map[string][]*fakeKey{}, people: map[string]*fakePerson{}, writes: map[string]int{}}
}

func (f *fakeIAM) addKey(user, id string, created time.Time) *fakeKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.people[user] == nil {
		f.people[user] = &fakePerson{created: created}
	}
	k := &fakeKey{id: id, status: "Active", created: created}
	f.users[user] = append(f.users[user], k)
	return k
}

func (f *fakeIAM) key(id string) (string, *fakeKey) {
	for u, keys := range f.users {
		for _, k := range keys {
			if k.id == id {
				return u, k
			}
		}
	}
	return "", nil
}

func (f *fakeIAM) status(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, k := f.key(id); k != nil {
		return k.status
	}
	return "gone"
}

func (f *fakeIAM) use(id string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, k := f.key(id)
	k.lastUsed = &at
}

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (fake)"}
}

func noSuchEntity(msg string) error {
	return &types.NoSuchEntityException{Message: aws.String(msg)}
}

func (f *fakeIAM) hook(op, id string) error {
	f.calls = append(f.calls, op+" "+id)
	if f.before != nil {
		return f.before(op, id)
	}
	return nil
}

func (f *fakeIAM) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user := aws.ToString(in.UserName)
	if err := f.hook("ListAccessKeys", user); err != nil {
		return nil, err
	}
	keys, ok := f.users[user]
	if !ok {
		return nil, noSuchEntity("The user with name " + user + " cannot be found.")
	}
	start := 0
	if in.Marker != nil {
		start, _ = strconv.Atoi(*in.Marker)
	}
	out := &iam.ListAccessKeysOutput{}
	if start < len(keys) {
		k := keys[start]
		out.AccessKeyMetadata = []types.AccessKeyMetadata{{AccessKeyId: aws.String(k.id), UserName: aws.String(user), Status: types.StatusType(k.status), CreateDate: aws.Time(k.created)}}
	}
	if start+1 < len(keys) {
		out.IsTruncated = true
		out.Marker = aws.String(strconv.Itoa(start + 1))
	}
	return out, nil
}

// person changes a user's creation or console password, as of now.
func (f *fakeIAM) person(user string, change func(p *fakePerson)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.people[user])
}

func (f *fakeIAM) GetLoginProfile(_ context.Context, in *iam.GetLoginProfileInput, _ ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user := aws.ToString(in.UserName)
	if err := f.hook("GetLoginProfile", user); err != nil {
		return nil, err
	}
	p, ok := f.people[user]
	if _, exists := f.users[user]; !exists || !ok || p.noPassword {
		return nil, noSuchEntity("Login Profile for User " + user + " cannot be found.")
	}
	return &iam.GetLoginProfileOutput{LoginProfile: &types.LoginProfile{UserName: in.UserName, CreateDate: aws.Time(p.created)}}, nil
}

func (f *fakeIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user := aws.ToString(in.UserName)
	if err := f.hook("GetUser", user); err != nil {
		return nil, err
	}
	p, ok := f.people[user]
	if _, exists := f.users[user]; !exists || !ok {
		return nil, noSuchEntity("The user with name " + user + " cannot be found.")
	}
	return &iam.GetUserOutput{User: &types.User{UserName: in.UserName, CreateDate: aws.Time(p.created)}}, nil
}

func (f *fakeIAM) GetAccessKeyLastUsed(_ context.Context, in *iam.GetAccessKeyLastUsedInput, _ ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.AccessKeyId)
	if err := f.hook("GetAccessKeyLastUsed", id); err != nil {
		return nil, err
	}
	user, k := f.key(id)
	if k == nil {
		return nil, noSuchEntity("key not found")
	}
	lu := &types.AccessKeyLastUsed{ServiceName: aws.String("N/A"), Region: aws.String("N/A")}
	if k.lastUsed != nil {
		lu = &types.AccessKeyLastUsed{LastUsedDate: k.lastUsed, ServiceName: aws.String("s3"), Region: aws.String("us-east-1")}
	}
	return &iam.GetAccessKeyLastUsedOutput{UserName: aws.String(user), AccessKeyLastUsed: lu}, nil
}

func (f *fakeIAM) UpdateAccessKey(_ context.Context, in *iam.UpdateAccessKeyInput, _ ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.AccessKeyId)
	if err := f.hook("UpdateAccessKey", id); err != nil {
		return nil, err
	}
	f.writes[fmt.Sprintf("UpdateAccessKey %s %s", in.Status, id)]++
	user, k := f.key(id)
	if k == nil || user != aws.ToString(in.UserName) {
		return nil, noSuchEntity("key not found")
	}
	k.status = string(in.Status)
	return &iam.UpdateAccessKeyOutput{}, nil
}

func (f *fakeIAM) DeleteAccessKey(_ context.Context, in *iam.DeleteAccessKeyInput, _ ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.AccessKeyId)
	if err := f.hook("DeleteAccessKey", id); err != nil {
		return nil, err
	}
	f.writes["DeleteAccessKey "+id]++
	user, k := f.key(id)
	if k == nil || user != aws.ToString(in.UserName) {
		return nil, noSuchEntity("key not found")
	}
	keys := f.users[user]
	for i := range keys {
		if keys[i] == k {
			f.users[user] = append(keys[:i:i], keys[i+1:]...)
			break
		}
	}
	return &iam.DeleteAccessKeyOutput{}, nil
}

// writeLog returns the write counts as sorted "op key=count" strings.
func (f *fakeIAM) writeLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k, n := range f.writes {
		out = append(out, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(out)
	return out
}

type (
	iamUpdateIn  = iam.UpdateAccessKeyInput
	iamUpdateOut = iam.UpdateAccessKeyOutput
	iamOpt       = func(*iam.Options)
)

// UpdateAccessKeyDirect changes a key's status as someone else would, without counting it.
func (f *fakeIAM) UpdateAccessKeyDirect(id, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, k := f.key(id)
	k.status = status
}

func (f *fakeIAM) deleteDirect(user, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := f.users[user]
	for i, k := range keys {
		if k.id == id {
			f.users[user] = append(keys[:i:i], keys[i+1:]...)
			return
		}
	}
}

func (f *fakeIAM) deleteUser(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, user)
}

// deleteDirectLocked is deleteDirect for use inside a hook, where the lock is held.
func (f *fakeIAM) deleteDirectLocked(user, id string) {
	keys := f.users[user]
	for i, k := range keys {
		if k.id == id {
			f.users[user] = append(keys[:i:i], keys[i+1:]...)
			return
		}
	}
}
