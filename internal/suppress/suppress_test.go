package suppress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

func finding(account, user, path string, status setupkeys.Status, keyID string) setupkeys.Finding {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	arn := "arn:aws:iam::" + account + ":user" + path + user
	f := setupkeys.Finding{
		ID:         setupkeys.FindingID(account, arn, 1, created),
		AccountID:  account,
		User:       user,
		ARN:        arn,
		KeySlot:    1,
		Status:     status,
		KeyCreated: created,
	}
	if keyID != "" {
		f.AccessKeyID = &keyID
	}
	return f
}

func mustParse(t *testing.T, src string) *Set {
	t.Helper()
	s, err := Parse(strings.NewReader(src), "s.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestParseValid(t *testing.T) {
	s := mustParse(t, `
version: 1
suppressions:
  - account: "012345678901"
    user: Alice
    reason: "  onboarding  "
    expires: 2026-06-30
  - user_path: /service/
    reason: services
    expires: 2026-06-30T12:00:00+02:00
  - user_tag: {key: team, value: data}
    reason: tagged
  - user_tag:
      key: opt-out
    reason: any value
  - access_key_id: AKIAIOSFODNN7EXAMPLE
    reason: break glass
  - finding_id: sk-0123456789abcdef
    reason: accepted
`)
	if len(s.Rules) != 6 {
		t.Fatalf("got %d rules, want 6", len(s.Rules))
	}
	r := s.Rules[0]
	if r.Account != "012345678901" || r.User != "Alice" || r.Reason != "onboarding" || r.Line != 4 || r.File != "s.yaml" {
		t.Errorf("rule 0 = %+v", r)
	}
	if want := time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC); !r.Expires.Equal(want) {
		t.Errorf("expires = %v, want %v", r.Expires, want)
	}
	if want := time.Date(2026, 6, 30, 10, 0, 0, 0, time.UTC); !s.Rules[1].Expires.Equal(want) {
		t.Errorf("expires = %v, want %v", s.Rules[1].Expires, want)
	}
	if tag := s.Rules[2].Tag; tag == nil || tag.Key != "team" || tag.Value == nil || *tag.Value != "data" {
		t.Errorf("tag = %+v", tag)
	}
	if tag := s.Rules[3].Tag; tag == nil || tag.Key != "opt-out" || tag.Value != nil {
		t.Errorf("tag = %+v", tag)
	}
	if !s.NeedsTags() {
		t.Error("NeedsTags = false")
	}
	if got := s.Rules[4].String(); got != "access_key_id=AKIA************MPLE" {
		t.Errorf("String = %q", got)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n# nothing\n", "suppressions:\n", "suppressions: []\n", "~\n"} {
		s := mustParse(t, src)
		if len(s.Rules) != 0 || s.NeedsTags() {
			t.Errorf("%q: got %+v", src, s.Rules)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // each must appear in the error
	}{
		{"unknown top field", "suppresions:\n  - user: a\n    reason: r\n", []string{`s.yaml:1:1: unknown field "suppresions"`}},
		{"unknown rule field", "suppressions:\n  - user: a\n    reason: r\n    expiry: 2025-01-01\n", []string{`s.yaml:4:5: unknown field "expiry"`}},
		{"missing reason", "suppressions:\n  - user: a\n", []string{"s.yaml:2:5: suppression has no reason"}},
		{"empty reason", "suppressions:\n  - user: a\n    reason: '  '\n", []string{"s.yaml:3:13: reason is empty"}},
		{"null reason", "suppressions:\n  - user: a\n    reason:\n", []string{"s.yaml:3:12: reason is empty"}},
		{"no selector", "suppressions:\n  - reason: r\n    expires: 2025-01-01\n", []string{"s.yaml:2:5: suppression has no selector"}},
		{"bad date", "suppressions:\n  - user: a\n    reason: r\n    expires: 2025-13-01\n", []string{`s.yaml:4:14: expires "2025-13-01" is not a date`}},
		{"bad date words", "suppressions:\n  - user: a\n    reason: r\n    expires: next week\n", []string{`expires "next week" is not a date`}},
		{"bad account", "suppressions:\n  - account: 12345\n    reason: r\n", []string{`s.yaml:2:14: account "12345" is not a 12-digit account ID`}},
		{"bad path", "suppressions:\n  - user_path: service\n    reason: r\n", []string{"must start and end with /"}},
		{"bad key id", "suppressions:\n  - access_key_id: akia-nope\n    reason: r\n", []string{"is not an access key ID"}},
		{"bad finding id", "suppressions:\n  - finding_id: abc\n    reason: r\n", []string{"is not a setupkeys finding ID"}},
		{"bad user", "suppressions:\n  - user: 'a b'\n    reason: r\n", []string{"is not a valid IAM user name"}},
		{"tag no key", "suppressions:\n  - user_tag: {value: x}\n    reason: r\n", []string{"user_tag has no key"}},
		{"tag scalar", "suppressions:\n  - user_tag: team=data\n    reason: r\n", []string{"user_tag must be a mapping"}},
		{"tag unknown", "suppressions:\n  - user_tag: {key: a, vlaue: x}\n    reason: r\n", []string{`unknown field "vlaue" in user_tag`}},
		{"user list", "suppressions:\n  - user: [a, b]\n    reason: r\n", []string{"user must be a single value, found a list"}},
		{"duplicate field", "suppressions:\n  - user: a\n    user: b\n    reason: r\n", []string{`s.yaml:3:5: field "user" given twice (first at 2:5)`}},
		{"duplicate top field", "suppressions: []\nsuppressions: []\n", []string{`s.yaml:2:1: field "suppressions" given twice (first at 1:1)`}},
		{"duplicate tag field", "suppressions:\n  - user_tag: {key: a, key: b}\n    reason: r\n", []string{`s.yaml:2:24: field "key" given twice (first at 2:16)`}},
		{"bad expiry time", "suppressions:\n  - user: a\n    reason: r\n    expires: 2025-01-01T25:00:00Z\n", []string{`s.yaml:4:14: expires "2025-01-01T25:00:00Z" is not a date`}},
		{"bad key id place", "suppressions:\n  - user: a\n    reason: r\n    access_key_id: 'AKIA123'\n", []string{`s.yaml:4:20: access_key_id "*******" is not an access key ID`}},
		{"unknown tag field place", "suppressions:\n  - user_tag:\n      key: a\n      valu: b\n    reason: r\n", []string{`s.yaml:4:7: unknown field "valu" in user_tag`}},
		{"not a list", "suppressions:\n  user: a\n", []string{"`suppressions` must be a list"}},
		{"top list", "- user: a\n  reason: r\n", []string{"expected a mapping with a `suppressions:` list"}},
		{"no list", "version: 1\n", []string{"no `suppressions:` list"}},
		{"bad version", "version: 2\nsuppressions: []\n", []string{`s.yaml:1:10: unsupported version "2"`}},
		{"item scalar", "suppressions:\n  - alice\n", []string{"s.yaml:2:5: a suppression must be a mapping"}},
		{"two docs", "suppressions: []\n---\nsuppressions: []\n", []string{"more than one YAML document"}},
		{"several", "suppressions:\n  - user: a\n  - reason: r\n", []string{"s.yaml:2:5: suppression has no reason", "s.yaml:3:5: suppression has no selector"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src), "s.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Errorf("error %T is not a *suppress.Error", err)
			}
		})
	}
}

// TestParseSyntaxErrors: a YAML syntax error is placed where the parser found it, line and
// column, and names the construct left open when that began elsewhere.
func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"mis-indented field", "suppressions:\n  - user: alice\n    reason: x\n   bad: y\n",
			"s.yaml:4:4: bad YAML: did not find expected '-' indicator (while parsing a block collection that starts at 2:3)"},
		{"unclosed flow list", "suppressions:\n  - user: [alice\n",
			"s.yaml:3:1: bad YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at 2:11)"},
		{"unclosed quote", "suppressions:\n  - user: \"alice\n    reason: r\n",
			"s.yaml:4:1: bad YAML: found unexpected end of stream (while scanning a quoted scalar that starts at 2:11)"},
		{"tab indent", "suppressions:\n\t- user: alice\n",
			"s.yaml:2:1: bad YAML: found character that cannot start any token"},
		{"key after list", "suppressions:\n  - user: a\n    reason: r\n  user: x\n",
			"s.yaml:4:3: bad YAML: did not find expected '-' indicator (while parsing a block collection that starts at 2:3)"},
		{"mapping in scalar", "suppressions:\n  - user: a: b\n    reason: r\n",
			"s.yaml:2:12: bad YAML: mapping values are not allowed in this context"},
		{"not UTF-8", "suppressions:\n  - user: a\xd8\n",
			"s.yaml:2:13: bad YAML: invalid trailing UTF-8 octet (value: 10)"},
		{"control character", "suppressions:\n  - user: a\x1e\n",
			"s.yaml:2:12: bad YAML: control characters are not allowed (value: 30)"},
		{"too deep", strings.Repeat("[", 20000),
			"s.yaml:1:10001: bad YAML: exceeded max depth of 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src), "s.yaml")
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %T %v is not a *suppress.Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n %s\nwant\n %s", err, tt.want)
			}
			if perr.Line <= 0 || perr.Column <= 0 {
				t.Errorf("error has no line and column: %+v", perr)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sup.yaml")
	if err := os.WriteFile(path, []byte("suppressions:\n  - user: a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2:5:") {
		t.Errorf("Load error = %v, want it to name %s:2:5", err, path)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

// countingTags records every look-up.
type countingTags struct {
	tags  StaticTags
	calls []string
	err   error
}

func (c *countingTags) UserTags(ctx context.Context, account, user string) (map[string]string, error) {
	c.calls = append(c.calls, account+"/"+user)
	if c.err != nil {
		return nil, c.err
	}
	return c.tags.UserTags(ctx, account, user)
}

func TestApply(t *testing.T) {
	const acct, other = "111111111111", "222222222222"
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	file := `
suppressions:
  - user: alice
    account: "111111111111"
    reason: alice onboarding
    expires: 2025-07-01
  - user: bob
    reason: bob expired
    expires: 2025-06-01
  - user_path: /svc/
    reason: services
  - user_tag: {key: Owner, value: data}
    reason: data team
  - user_tag: {key: setupkeys-ignore}
    reason: opted out
  - access_key_id: AKIAKEYFORCAROL00001
    reason: carol key
  - finding_id: FINDING
    reason: by finding
`
	dave := finding(acct, "dave", "/", setupkeys.StatusFail, "")
	file = strings.Replace(file, "FINDING", dave.ID, 1)
	set := mustParse(t, file)

	tags := &countingTags{tags: StaticTags{acct: {
		"erin":  {"owner": "data"},
		"frank": {"Owner": "web"},
		"gina":  {"setupkeys-ignore": ""},
	}}}
	in := []setupkeys.Finding{
		finding(acct, "Alice", "/", setupkeys.StatusFail, ""),                     // 0 user (case-insensitive) + account
		finding(other, "alice", "/", setupkeys.StatusFail, ""),                    // 1 other account: no
		finding(acct, "bob", "/", setupkeys.StatusFail, ""),                       // 2 expired at exactly now
		finding(acct, "svc-1", "/svc/ci/", setupkeys.StatusReview, ""),            // 3 path prefix
		finding(acct, "svc-2", "/svcs/", setupkeys.StatusFail, ""),                // 4 not under /svc/
		finding(acct, "erin", "/", setupkeys.StatusFail, ""),                      // 5 tag key any case, value exact
		finding(acct, "frank", "/", setupkeys.StatusFail, ""),                     // 6 tag value differs
		finding(acct, "gina", "/", setupkeys.StatusFail, ""),                      // 7 tag key only
		finding(acct, "carol", "/", setupkeys.StatusFail, "AKIAKEYFORCAROL00001"), // 8 key ID
		finding(acct, "carol", "/", setupkeys.StatusFail, "AKIAKEYFORCAROL00002"), // 9 other key ID
		dave, // 10 finding ID
		finding(acct, "alice", "/", setupkeys.StatusPass, ""), // 11 pass stays pass
		finding(acct, "erin", "/", setupkeys.StatusPass, ""),  // 12 pass: no tag look-up
	}
	res := set.Apply(context.Background(), in, tags, now)

	want := []struct {
		status setupkeys.Status
		reason string
	}{
		{setupkeys.StatusSuppressed, "alice onboarding"},
		{setupkeys.StatusFail, ""},
		{setupkeys.StatusFail, ""},
		{setupkeys.StatusSuppressed, "services"},
		{setupkeys.StatusFail, ""},
		{setupkeys.StatusSuppressed, "data team"},
		{setupkeys.StatusFail, ""},
		{setupkeys.StatusSuppressed, "opted out"},
		{setupkeys.StatusSuppressed, "carol key"},
		{setupkeys.StatusFail, ""},
		{setupkeys.StatusSuppressed, "by finding"},
		{setupkeys.StatusPass, ""},
		{setupkeys.StatusPass, ""},
	}
	for i, w := range want {
		f := res.Findings[i]
		if f.Status != w.status {
			t.Errorf("%d (%s): status %s, want %s", i, f.User, f.Status, w.status)
			continue
		}
		if w.reason == "" {
			if f.Suppression != nil {
				t.Errorf("%d: unexpected note %+v", i, f.Suppression)
			}
			continue
		}
		if f.Suppression == nil || f.Suppression.Reason != w.reason || f.Suppression.Was != in[i].Status {
			t.Errorf("%d: note %+v, want reason %q was %s", i, f.Suppression, w.reason, in[i].Status)
		}
	}
	if n := res.Findings[0].Suppression.Expires; n == nil || !n.Equal(time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("note expiry = %v", n)
	}
	if res.Suppressed != 6 {
		t.Errorf("Suppressed = %d, want 6", res.Suppressed)
	}
	if in[0].Status != setupkeys.StatusFail || in[0].Suppression != nil {
		t.Error("Apply changed its input")
	}
	if len(res.Expired) != 1 || res.Expired[0].Rule.User != "bob" || len(res.Expired[0].Findings) != 1 || res.Expired[0].Findings[0].ID != in[2].ID || res.Expired[0].Findings[0].Status != setupkeys.StatusFail {
		t.Errorf("Expired = %+v", res.Expired)
	}
	// Tags were read only for users with fail/review findings that no non-tag rule covered
	// first, once each.
	wantCalls := []string{other + "/alice", acct + "/bob", acct + "/svc-2", acct + "/erin", acct + "/frank", acct + "/gina", acct + "/carol", acct + "/dave"}
	if !reflect.DeepEqual(tags.calls, wantCalls) {
		t.Errorf("tag look-ups = %v, want %v", tags.calls, wantCalls)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings = %v", res.Warnings)
	}
}

func TestApplyExpiryClock(t *testing.T) {
	set := mustParse(t, "suppressions:\n  - user: a\n    reason: r\n    expires: 2025-01-10\n  - user: b\n    reason: r\n    expires: 2025-01-10T08:30:00Z\n")
	in := []setupkeys.Finding{finding("111111111111", "a", "/", setupkeys.StatusFail, ""), finding("111111111111", "b", "/", setupkeys.StatusReview, "")}
	tests := []struct {
		now          time.Time
		a, b         setupkeys.Status
		expiredRules int
	}{
		{time.Date(2025, 1, 9, 23, 59, 59, 0, time.UTC), setupkeys.StatusSuppressed, setupkeys.StatusSuppressed, 0},
		{time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), setupkeys.StatusFail, setupkeys.StatusSuppressed, 1},
		{time.Date(2025, 1, 10, 8, 29, 59, 0, time.UTC), setupkeys.StatusFail, setupkeys.StatusSuppressed, 1},
		{time.Date(2025, 1, 10, 8, 30, 0, 0, time.UTC), setupkeys.StatusFail, setupkeys.StatusReview, 2},
		// A clock in another zone is the same instant.
		{time.Date(2025, 1, 10, 9, 29, 59, 0, time.FixedZone("CET", 3600)), setupkeys.StatusFail, setupkeys.StatusSuppressed, 1},
	}
	for _, tt := range tests {
		res := set.Apply(context.Background(), in, nil, tt.now)
		if res.Findings[0].Status != tt.a || res.Findings[1].Status != tt.b {
			t.Errorf("at %v: statuses %s, %s; want %s, %s", tt.now, res.Findings[0].Status, res.Findings[1].Status, tt.a, tt.b)
		}
		if len(res.Expired) != tt.expiredRules || len(set.Expired(tt.now)) != tt.expiredRules {
			t.Errorf("at %v: %d expired matches, %d expired rules; want %d", tt.now, len(res.Expired), len(set.Expired(tt.now)), tt.expiredRules)
		}
	}
}

func TestApplyFirstRuleWinsAndAlreadySuppressed(t *testing.T) {
	set := mustParse(t, "suppressions:\n  - user: a\n    reason: first\n  - account: '111111111111'\n    reason: second\n")
	already := finding("111111111111", "c", "/", setupkeys.StatusSuppressed, "")
	already.Suppression = &setupkeys.SuppressionNote{Reason: "earlier", Was: setupkeys.StatusFail}
	res := set.Apply(context.Background(), []setupkeys.Finding{finding("111111111111", "a", "/", setupkeys.StatusFail, ""), already}, nil, time.Now())
	if r := res.Findings[0].Suppression.Reason; r != "first" {
		t.Errorf("reason = %q, want first", r)
	}
	if r := res.Findings[1].Suppression.Reason; r != "earlier" {
		t.Errorf("already suppressed finding changed: %q", r)
	}
}

func TestApplyTagErrors(t *testing.T) {
	set := mustParse(t, "suppressions:\n  - user_tag: {key: x}\n    reason: tagged\n  - user: b\n    reason: by name\n")
	tags := &countingTags{err: errors.New("AccessDenied")}
	in := []setupkeys.Finding{
		finding("111111111111", "a", "/", setupkeys.StatusFail, ""),
		finding("111111111111", "a", "/", setupkeys.StatusFail, "AKIAKEYFORA000000002"),
		finding("111111111111", "b", "/", setupkeys.StatusFail, ""),
	}
	res := set.Apply(context.Background(), in, tags, time.Now())
	if res.Findings[0].Status != setupkeys.StatusFail || res.Findings[1].Status != setupkeys.StatusFail {
		t.Error("finding suppressed although its tags could not be read")
	}
	if res.Findings[2].Status != setupkeys.StatusSuppressed {
		t.Error("a failed tag look-up stopped a later rule from applying")
	}
	if len(tags.calls) != 2 || len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "AccessDenied") {
		t.Errorf("calls %v, warnings %v", tags.calls, res.Warnings)
	}
}

// TestApplyNoTags: where no tags can be read (a report file), the live tag rules cover nothing
// and one warning, whatever the number of users, names them and what to do instead.
func TestApplyNoTags(t *testing.T) {
	set := mustParse(t, `suppressions:
  - user_tag: {key: x}
    reason: tagged
  - user: b
    reason: by name
  - user_tag: {key: team, value: data}
    reason: data team
  - user_tag: {key: old}
    reason: expired tag rule
    expires: 2020-01-01
`)
	var in []setupkeys.Finding
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		in = append(in, finding("111111111111", u, "/", setupkeys.StatusFail, ""))
	}
	res := set.Apply(context.Background(), in, nil, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	want := "suppressions s.yaml:2, s.yaml:6 select by user_tag, but a report file has no tags, so they cover nothing here: audit the live account to read tags, or select these users by user or user_path"
	if len(res.Warnings) != 1 || res.Warnings[0] != want {
		t.Errorf("warnings = %q, want one: %q", res.Warnings, want)
	}
	for i, f := range res.Findings {
		if wantStatus := map[bool]setupkeys.Status{true: setupkeys.StatusSuppressed, false: setupkeys.StatusFail}[f.User == "b"]; f.Status != wantStatus {
			t.Errorf("finding %d (%s): %s, want %s", i, f.User, f.Status, wantStatus)
		}
	}
	one := mustParse(t, "suppressions:\n  - user_tag: {key: x}\n    reason: r\n")
	res = one.Apply(context.Background(), in, nil, time.Now())
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "suppression s.yaml:2 selects by user_tag, but a report file has no tags, so it covers nothing here") {
		t.Errorf("one tag rule: warnings = %q", res.Warnings)
	}
	noTagRules := mustParse(t, "suppressions:\n  - user: a\n    reason: r\n")
	if res := noTagRules.Apply(context.Background(), in, nil, time.Now()); len(res.Warnings) != 0 {
		t.Errorf("no tag rules: warnings = %q", res.Warnings)
	}
}

// TestExpiredWarning: an expired rule names, on one line, the findings it would have covered
// (account/user, masked key ID or slot, status), at most ten, and how many more.
func TestExpiredWarning(t *testing.T) {
	set := mustParse(t, "suppressions:\n  - account: '111111111111'\n    reason: \"old\\x1b[31m exception\"\n    expires: 2025-01-01\n")
	var in []setupkeys.Finding
	for i := range 12 {
		key := ""
		if i%2 == 0 {
			key = fmt.Sprintf("AKIAEXPIRED%09d", i)
		}
		in = append(in, finding("111111111111", fmt.Sprintf("user%02d", i), "/", setupkeys.StatusFail, key))
	}
	in[1].User = "evil\x1b]0;x\a"
	in[3].Status = setupkeys.StatusReview
	res := set.Apply(context.Background(), in, nil, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if len(res.Expired) != 1 || len(res.Expired[0].Findings) != 12 {
		t.Fatalf("expired = %+v", res.Expired)
	}
	got := res.Expired[0].Warning()
	want := "suppression s.yaml:2 (account=111111111111) expired on 2025-01-01T00:00:00Z and no longer covers 12 findings: " +
		"111111111111/user00 AKIA************0000 fail; 111111111111/evil\\x1b]0;x\\x07 slot 1 fail; 111111111111/user02 AKIA************0002 fail; " +
		"111111111111/user03 slot 1 review; 111111111111/user04 AKIA************0004 fail; 111111111111/user05 slot 1 fail; " +
		"111111111111/user06 AKIA************0006 fail; 111111111111/user07 slot 1 fail; 111111111111/user08 AKIA************0008 fail; " +
		"111111111111/user09 slot 1 fail; and 2 more (its reason was: old\\x1b[31m exception; renew its expires: or remove it)"
	if got != want {
		t.Errorf("warning\n %s\nwant\n %s", got, want)
	}
	if strings.ContainsAny(got, "\x1b\a\n") {
		t.Errorf("warning holds a control character: %q", got)
	}
	res = set.Apply(context.Background(), in[:1], nil, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if got := res.Expired[0].Warning(); !strings.Contains(got, "no longer covers 1 finding: 111111111111/user00 AKIA************0000 fail (its reason") {
		t.Errorf("one finding: %s", got)
	}
}

func TestApplyNoTagLookupsWithoutTagRules(t *testing.T) {
	set := mustParse(t, "suppressions:\n  - user: z\n    reason: r\n")
	tags := &countingTags{}
	set.Apply(context.Background(), []setupkeys.Finding{finding("111111111111", "a", "/", setupkeys.StatusFail, "")}, tags, time.Now())
	if set.NeedsTags() || len(tags.calls) != 0 {
		t.Errorf("NeedsTags %v, calls %v", set.NeedsTags(), tags.calls)
	}
	var nilSet *Set
	res := nilSet.Apply(context.Background(), []setupkeys.Finding{finding("111111111111", "a", "/", setupkeys.StatusFail, "")}, nil, time.Now())
	if len(res.Findings) != 1 || res.Findings[0].Status != setupkeys.StatusFail {
		t.Errorf("nil set: %+v", res)
	}
}

// StaticTags is a pre-fetched tag table for tests: account ID, then user name, then tags.
type StaticTags map[string]map[string]map[string]string

// UserTags returns the recorded tags (none when the user is not in the table).
func (s StaticTags) UserTags(_ context.Context, accountID, user string) (map[string]string, error) {
	return s[accountID][user], nil
}
