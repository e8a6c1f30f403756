package remediate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

const acct = "111111111111"

var (
	t0      = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	planNow = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	liveSrc = setupkeys.Source{Kind: setupkeys.SourceLiveAPI}
)

// mkFinding makes a finding for user's key; keyID "" leaves it unresolved.
func mkFinding(user, keyID string, slot int, status setupkeys.Status, created time.Time) setupkeys.Finding {
	arn := "arn:aws:iam::" + acct + ":user/" + user
	f := setupkeys.Finding{
		ID:          setupkeys.FindingID(acct, arn, slot, created),
		AccountID:   acct,
		User:        user,
		ARN:         arn,
		KeySlot:     slot,
		Status:      status,
		UserCreated: created,
		KeyCreated:  created,
		Source:      liveSrc,
	}
	if keyID != "" {
		f.AccessKeyID = &keyID
	}
	return f
}

func TestNewPlan(t *testing.T) {
	suppressed := mkFinding("sam", "AKIASAM0000000000001", 1, setupkeys.StatusSuppressed, t0)
	suppressed.Suppression = &setupkeys.SuppressionNote{Reason: "break glass", Was: setupkeys.StatusFail}
	used := t0.Add(time.Hour)
	pass := mkFinding("pat", "AKIAPAT0000000000001", 1, setupkeys.StatusPass, t0)
	pass.LastUsed = &used
	findings := []setupkeys.Finding{
		mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0),
		mkFinding("rita", "AKIARITA000000000001", 2, setupkeys.StatusReview, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)),
		suppressed,
		pass,
	}
	p, err := NewPlan(findings, acct, liveSrc, false, 0, planNow.Add(123*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if p.FormatVersion != FormatVersion || p.Window != "10m0s" || p.AccountID != acct || !p.CreatedAt.Equal(planNow) || !p.Resolved || !strings.HasPrefix(p.ID, "plan-") {
		t.Errorf("plan header = %+v", p)
	}
	if len(p.Actions) != 1 || p.Actions[0].KeyID() != "AKIAALICE00000000001" || p.Actions[0].Preconditions != (Preconditions{Status: "Active", CreateDate: t0, NeverUsed: true, UserCreated: t0}) {
		t.Errorf("actions = %+v", p.Actions)
	}
	if len(p.Listed) != 2 || p.Listed[0].User != "rita" || !strings.HasPrefix(p.Listed[0].Why, "review") || p.Listed[1].Why != "suppressed: break glass" || p.Listed[1].Suppression == nil {
		t.Errorf("listed = %+v", p.Listed)
	}
	// The same input gives the same ID; another time another.
	p2, _ := NewPlan(findings, acct, liveSrc, false, 0, planNow)
	p3, _ := NewPlan(findings, acct, liveSrc, false, 0, planNow.Add(time.Second))
	if p2.ID != p.ID || p3.ID == p.ID {
		t.Errorf("IDs %s %s %s", p.ID, p2.ID, p3.ID)
	}

	withReview, err := NewPlan(findings, acct, liveSrc, true, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(withReview.Actions) != 2 || withReview.Actions[1].Status != setupkeys.StatusReview || len(withReview.Listed) != 1 {
		t.Errorf("include review: %+v", withReview)
	}

	// Round trip.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"format_version": 2`, `"window": "10m0s"`, `"account_id": "111111111111"`, `"created_at": "2025-05-01T12:00:00Z"`, `"source": {`, `"actions": [`, `"access_key_id": "AKIAALICE00000000001"`, `"preconditions": {`, `"status": "Active"`, `"create_date": "2024-03-01T10:00:00Z"`, `"never_used": true`, `"finding_id": "sk-`, `"listed": [`} {
		if !strings.Contains(buf.String(), field) {
			t.Errorf("plan JSON lacks %s:\n%s", field, buf.String())
		}
	}
	back, err := ReadPlan(bytes.NewReader(buf.Bytes()), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	back.Write(&again)
	if again.String() != buf.String() {
		t.Errorf("round trip differs:\n%s\n%s", buf.String(), again.String())
	}

	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	if loaded, err := LoadPlan(path); err != nil || loaded.ID != p.ID {
		t.Errorf("LoadPlan: %v %v", loaded, err)
	}
}

func TestNewPlanRefusals(t *testing.T) {
	other := mkFinding("bob", "AKIABOB0000000000001", 1, setupkeys.StatusFail, t0)
	other.AccountID = "222222222222"
	if _, err := NewPlan([]setupkeys.Finding{other}, acct, liveSrc, false, 0, planNow); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "one plan per account") {
		t.Errorf("other account: %v", err)
	}
	if _, err := NewPlan(nil, "12345", liveSrc, false, 0, planNow); !errors.Is(err, ErrBadPlan) {
		t.Errorf("bad account: %v", err)
	}
	dup := []setupkeys.Finding{mkFinding("a", "AKIADUP0000000000001", 1, setupkeys.StatusFail, t0), mkFinding("a", "AKIADUP0000000000001", 2, setupkeys.StatusFail, t0)}
	if _, err := NewPlan(dup, acct, liveSrc, false, 0, planNow); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "planned twice") {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestPlanFromReportIsUnresolved(t *testing.T) {
	src := setupkeys.Source{Kind: setupkeys.SourceReportFile, File: "report.csv"}
	f := mkFinding("alice", "", 1, setupkeys.StatusFail, t0)
	f.Source = src
	p, err := NewPlan([]setupkeys.Finding{f}, acct, src, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	if p.Resolved || len(p.Unresolved()) != 1 {
		t.Fatalf("resolved = %v", p.Resolved)
	}
	var buf bytes.Buffer
	p.Write(&buf)
	if !strings.Contains(buf.String(), `"access_key_id": null`) || !strings.Contains(buf.String(), `"resolved": false`) {
		t.Errorf("JSON:\n%s", buf.String())
	}
}

func TestReadPlanRefusals(t *testing.T) {
	p, _ := NewPlan([]setupkeys.Finding{mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)}, acct, liveSrc, false, 0, planNow)
	var buf bytes.Buffer
	p.Write(&buf)
	good := buf.String()
	tests := []struct{ name, from, to, want string }{
		{"unknown field", `"plan_id"`, `"plan_idd"`, "unknown field"},
		{"newer version", `"format_version": 2`, `"format_version": 3`, "newer than this setupkeys reads"},
		{"old version", `"format_version": 2`, `"format_version": 0`, "not supported"},
		{"version 2 without its window", `  "window": "10m0s",
`, ``, `window "" is not a positive Go duration`},
		{"bad window", `"window": "10m0s"`, `"window": "-3s"`, `window "-3s" is not a positive Go duration`},
		{"version 1 with a window", `"format_version": 2`, `"format_version": 1`, "window is a format_version 2 field"},
		{"bad account", `"account_id": "111111111111",
  "created_at"`, `"account_id": "11111111111x",
  "created_at"`, "not 12 digits"},
		{"action other account", `"account_id": "111111111111",
      "user"`, `"account_id": "222222222222",
      "user"`, "differs from the plan's"},
		{"precondition", `"never_used": true`, `"never_used": false`, "preconditions must be"},
		{"resolved lie", `"access_key_id": "AKIAALICE00000000001"`, `"access_key_id": null`, "resolved is true but 1 of 1"},
		{"bad key", `"AKIAALICE00000000001"`, `"akia-x"`, "is not an access key ID"},
		{"status", `"status": "fail"`, `"status": "pass"`, "cannot be planned"},
		{"review without include_review", `"status": "fail"`, `"status": "review"`, "a review finding is planned but include_review is false"},
		{"trailing", "", "{}", "more than one JSON value"},
		// dec.More let these through (seed testdata/fuzz/FuzzReadPlan/stray-bracket).
		{"stray bracket", "", "]", "more than one JSON value"},
		{"stray brace", "", " }\n", "more than one JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := good + tt.to
			if tt.from != "" {
				src = strings.Replace(good, tt.from, tt.to, 1)
			}
			if src == good {
				t.Fatalf("replacement %q not found", tt.from)
			}
			_, err := ReadPlan(strings.NewReader(src), "plan.json")
			if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "plan.json") {
				t.Errorf("err = %v, want ErrBadPlan with %q naming plan.json", err, tt.want)
			}
		})
	}
}

// A user name is quoted in Validate's messages: an escaped newline in it must not break the
// message over two lines.
func TestReadPlanErrorIsOneLine(t *testing.T) {
	p, _ := NewPlan([]setupkeys.Finding{mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)}, acct, liveSrc, false, 0, planNow)
	var buf bytes.Buffer
	p.Write(&buf)
	src := strings.Replace(buf.String(), `"user": "alice"`, `"user": "al\nice"`, 1)
	src = strings.Replace(src, `"never_used": true`, `"never_used": false`, 1)
	_, err := ReadPlan(strings.NewReader(src), "plan.json")
	if !errors.Is(err, ErrBadPlan) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `actions[0]: user "al\nice" has a control or format character`) {
		t.Errorf("err = %q", err)
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"": ActionDeactivate, "deactivate": ActionDeactivate, "DELETE": ActionDelete} {
		if got, err := ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseAction("reactivate"); err == nil {
		t.Error("ParseAction(reactivate) accepted")
	}
}

// A finding given twice (a repeated report row) is planned or listed once; a plan that names one
// finding in two actions is refused.
func TestPlanDuplicateFindings(t *testing.T) {
	alice := mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)
	unresolved := mkFinding("bob", "", 1, setupkeys.StatusFail, t0)
	review := mkFinding("rita", "AKIARITA000000000001", 1, setupkeys.StatusReview, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name          string
		findings      []setupkeys.Finding
		includeReview bool
		wantActions   []string
		wantListed    []string
	}{
		{"fail twice", []setupkeys.Finding{alice, alice}, false, []string{"alice"}, nil},
		{"unresolved twice", []setupkeys.Finding{unresolved, alice, unresolved}, false, []string{"bob", "alice"}, nil},
		{"listed twice", []setupkeys.Finding{review, alice, review}, false, []string{"alice"}, []string{"rita"}},
		{"review planned twice", []setupkeys.Finding{review, review}, true, []string{"rita"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			single, err := NewPlan(tt.findings, acct, liveSrc, tt.includeReview, 0, planNow)
			if err != nil {
				t.Fatal(err)
			}
			multi, err := NewAccountsPlan([]setupkeys.AccountResult{{AccountID: acct, Source: liveSrc, Findings: tt.findings}}, acct, tt.includeReview, 0, planNow)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []*Plan{single, multi} {
				var actions, listed []string
				for _, a := range p.Actions {
					actions = append(actions, a.User)
				}
				for _, l := range p.Listed {
					listed = append(listed, l.User)
				}
				check(t, "actions", actions, tt.wantActions)
				check(t, "listed", listed, tt.wantListed)
			}
		})
	}

	// Validate refuses a finding planned twice, in a plan made by hand or edited.
	bob := mkFinding("bob", "AKIABOB0000000000001", 1, setupkeys.StatusFail, t0)
	p, err := NewPlan([]setupkeys.Finding{alice, bob}, acct, liveSrc, false, 0, planNow)
	if err != nil {
		t.Fatal(err)
	}
	p.Actions[1].FindingID = p.Actions[0].FindingID
	if err := p.Validate(); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), `actions[1] (user "bob"): finding "`+alice.ID+`" is planned twice (also actions[0])`) {
		t.Errorf("Validate: %v", err)
	}
	var buf bytes.Buffer
	p.Write(&buf)
	if _, err := ReadPlan(&buf, "plan.json"); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "planned twice") {
		t.Errorf("ReadPlan: %v", err)
	}
}

// A plan that is not valid JSON is refused naming the file and where: byte, line and column.
func TestReadPlanJSONErrorsSayWhere(t *testing.T) {
	p, _ := NewPlan([]setupkeys.Finding{mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)}, acct, liveSrc, false, 0, planNow)
	var buf bytes.Buffer
	p.Write(&buf)
	good := buf.String()
	tests := []struct{ name, src, want string }{
		{"syntax on line 1", `{"format_version": 1,, "plan_id": "plan-1"}`, `:1:22: invalid JSON: invalid character ',' at start of value near ", \"plan_id\": \"plan-1\"}"`},
		{"syntax further down", strings.Replace(good, `"plan_id":`, `"plan_id"`, 1), `:3:13: invalid JSON: invalid character '"' after object name (expecting ':')`},
		{"wrong type", strings.Replace(good, `"format_version": 2`, `"format_version": "2"`, 1), `:2:21: cannot use a JSON string "\"2\"" (want an integer) at /format_version`},
		{"truncated", good[:50], ":3:26: truncated JSON: the value does not end (50 bytes read)"},
		{"empty", " \n", ":1:1: empty: no JSON value"},
		{"text after", good + "\n ]", fmt.Sprintf(":%d:2: more than one JSON value: text after the first", strings.Count(good, "\n")+2)},
		{"duplicate field", strings.Replace(good, `"plan_id":`, `"plan_id": "plan-0", "plan_id":`, 1), `:3:24: field "plan_id" appears twice in the same object`},
		{"case variant", strings.Replace(good, `"plan_id":`, `"Plan_ID":`, 1), `:3:3: unknown field "Plan_ID" (field names are exact, case included)`},
		{"ESC in a user name", strings.Replace(good, `"user": "alice"`, `"user": "al\u001b[2Jice"`, 1), `:16:15: bad plan: actions[0]: user "al\x1b[2Jice" has a control or format character (\x1b)`},
		{"NUL in a user name", strings.Replace(good, `"user": "alice"`, `"user": "al\u0000ice"`, 1), `:16:15: bad plan: actions[0]: user "al\x00ice" has a NUL byte`},
		{"BOM in a user name", strings.Replace(good, `"user": "alice"`, `"user": "\ufeffalice"`, 1), `: bad plan: actions[0]: user "\ufeffalice" has a byte order mark`},
		{"invalid utf-8", strings.Replace(good, `"user": "alice"`, "\"user\": \"al\xffice\"", 1), `:16:18: invalid JSON: invalid UTF-8 near "\xffice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPlan(strings.NewReader(tt.src), "plan.json")
			if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "plan.json"+tt.want) {
				t.Errorf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}

// spaces is an endless reader of white space, a JSON reader's filler.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// A plan over MaxPlanSize is refused as too large, in one line naming the file, not misread as
// truncated.
func TestReadPlanLimits(t *testing.T) {
	_, err := ReadPlan(io.LimitReader(spaces{}, MaxPlanSize+1), "huge.json")
	if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "huge.json: larger than the 64 MiB limit: refused unread") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v", err)
	}
}
