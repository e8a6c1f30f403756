package remediate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

// FuzzReadPlan: any bytes either read as a plan or fail with ErrBadPlan in one line that names
// the file; never a panic. A plan that reads is exactly one JSON value, passes Validate again,
// holds what Apply relies on, and round-trips: Write then ReadPlan gives an equal plan, which
// writes the same bytes. Seeds live in testdata/fuzz/FuzzReadPlan.
func FuzzReadPlan(f *testing.F) {
	const name = "fuzz-plan.json"
	// The limit cases of strict reading, on a plan as NewPlan writes it (the over-size case,
	// MaxPlanSize, is TestReadPlanLimits's: a 64 MiB seed would slow every run).
	seed, err := NewPlan([]setupkeys.Finding{mkFinding("alice", "AKIAALICE00000000001", 1, setupkeys.StatusFail, t0)}, acct, liveSrc, false, 0, planNow)
	if err != nil {
		f.Fatal(err)
	}
	var plan bytes.Buffer
	if err := seed.Write(&plan); err != nil {
		f.Fatal(err)
	}
	good := plan.Bytes()
	f.Add(good)
	f.Add(append([]byte("\ufeff"), good...))
	f.Add(bytes.Replace(good, []byte(`"user": "alice",`), []byte(`"user": "alice", "user": "mallory",`), 1))
	f.Add(bytes.Replace(good, []byte(`"user": "alice"`), []byte(`"User": "alice"`), 1))
	f.Add(bytes.Replace(good, []byte(`"user": "alice"`), []byte(`"user": "al\u001b[2Jice"`), 1))
	f.Add(bytes.Replace(good, []byte(`"user": "alice"`), []byte("\"user\": \"al\xffice\""), 1))
	f.Add(bytes.Replace(good, []byte(`"user": "alice"`), []byte(`"user": "al\u0000ice"`), 1))
	f.Add(bytes.Replace(good, []byte(`"user": "alice"`), []byte(`"user": "`+strings.Repeat("a", 70000)+`"`), 1))
	f.Add(append(bytes.Clone(good), []byte("{}")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadPlan(bytes.NewReader(data), name)
		if err != nil {
			if p != nil {
				t.Fatal("both a plan and an error")
			}
			if !errors.Is(err, ErrBadPlan) {
				t.Fatalf("error is not ErrBadPlan: %v", err)
			}
			assertOneLineNaming(t, err, name)
			return
		}
		if !json.Valid(data) {
			t.Fatalf("read a plan from bytes that are not exactly one JSON value:\n%q", data)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a plan that read does not validate: %v", err)
		}
		checkPlanInvariants(t, p)

		var first bytes.Buffer
		if err := p.Write(&first); err != nil {
			t.Fatalf("a plan that read cannot be written: %v", err)
		}
		back, err := ReadPlan(bytes.NewReader(first.Bytes()), name)
		if err != nil {
			t.Fatalf("a written plan does not read back: %v\n%s", err, first.Bytes())
		}
		var second bytes.Buffer
		if err := back.Write(&second); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("round trip writes other bytes:\n%s\n%s", first.Bytes(), second.Bytes())
		}
		normalizePlan(p)
		normalizePlan(back)
		if !reflect.DeepEqual(p, back) {
			t.Fatalf("round trip gives another plan:\n%+v\n%+v", p, back)
		}
	})
}

// checkPlanInvariants checks, without Validate, what Apply and Rollback take for granted.
func checkPlanInvariants(t *testing.T, p *Plan) {
	t.Helper()
	if (p.FormatVersion != FormatVersion && p.FormatVersion != FormatVersion1) || !strings.HasPrefix(p.ID, "plan-") || !setupkeys.ValidAccountID(p.AccountID) || p.CreatedAt.IsZero() {
		t.Fatalf("bad header accepted: %+v", p)
	}
	audited := map[string]bool{}
	for _, a := range p.Accounts {
		audited[a.AccountID] = a.Status == AccountAudited
	}
	unresolved := 0
	keys := map[string]bool{}
	for i, a := range p.Actions {
		if p.MultiAccount() && !audited[a.AccountID] || !p.MultiAccount() && a.AccountID != p.AccountID {
			t.Fatalf("actions[%d] in account %q accepted", i, a.AccountID)
		}
		if a.User == "" || (a.Status != setupkeys.StatusFail && a.Status != setupkeys.StatusReview) {
			t.Fatalf("actions[%d] accepted: %+v", i, a)
		}
		if a.Preconditions.Status != keyStatusActive || !a.Preconditions.NeverUsed || a.Preconditions.CreateDate.IsZero() {
			t.Fatalf("actions[%d] preconditions accepted: %+v", i, a.Preconditions)
		}
		id := a.KeyID()
		if id == "" {
			unresolved++
			continue
		}
		if keys[id] || !setupkeys.ValidAccessKeyID(id) {
			t.Fatalf("actions[%d] key %q accepted", i, id)
		}
		keys[id] = true
	}
	if p.Resolved != (unresolved == 0) || len(p.Unresolved()) != unresolved {
		t.Fatalf("resolved = %v with %d unresolved keys", p.Resolved, unresolved)
	}
}

// normalizePlan makes equal plans deeply equal: times in UTC (an offset that is the local zone's
// reads as Local but writes as Z) and no empty accounts list (omitted when written).
func normalizePlan(p *Plan) {
	utc := func(t *time.Time) {
		if t != nil {
			*t = t.UTC()
		}
	}
	utc(&p.CreatedAt)
	utc(p.ResolvedAt)
	utc(p.Source.GeneratedTime)
	if len(p.Accounts) == 0 {
		p.Accounts = nil
	}
	for i := range p.Accounts {
		utc(p.Accounts[i].Source.GeneratedTime)
	}
	for i := range p.Actions {
		utc(&p.Actions[i].Preconditions.CreateDate)
	}
	for i := range p.Listed {
		if s := p.Listed[i].Suppression; s != nil {
			utc(s.Expires)
		}
	}
}

// FuzzReadJournal: any bytes in a journal file either read or fail with ErrBadJournal in one
// line naming the file and, past the first line, the first bad line (every line before it
// reads); never a panic. What reads is one entry per line (a complete last line without its
// newline included, a torn one not), numbered and chained, each with what Apply and Rollback
// rely on. Seeds live in testdata/fuzz/FuzzReadJournal (journals written by real runs).
func FuzzReadJournal(f *testing.F) {
	dir := f.TempDir()
	chained := chainedJournal(f, dir)
	f.Add(chained)
	f.Add(chained[:len(chained)-1])                              // a complete last line without its newline
	f.Add(chained[:len(chained)-30])                             // a torn last line
	f.Add(append([]byte("\ufeff"), chained...))                  // a byte order mark
	f.Add(bytes.ReplaceAll(chained, []byte("\n"), []byte("\r"))) // bare CR line ends
	f.Add(bytes.Replace(chained, []byte(`"phase":"done"`), []byte(`"phase":"done","phase":"intent"`), 1))
	f.Add(bytes.Replace(chained, []byte(`"phase":"done"`), []byte(`"Phase":"done"`), 1))
	f.Add(bytes.Replace(chained, []byte(`"user":"u1"`), []byte(`"user":"u\u001b[2J\u0000"`), 1))
	f.Add(append(bytes.Clone(chained), append([]byte(`{"seq":3,"prev":"`), bytes.Repeat([]byte("x"), maxJournalLine+1)...)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeTemp(t, dir, data)
		defer os.Remove(path)
		entries, err := ReadJournal(path)
		if err != nil {
			if entries != nil {
				t.Fatal("both entries and an error")
			}
			if !errors.Is(err, ErrBadJournal) {
				t.Fatalf("error is not ErrBadJournal: %v", err)
			}
			assertOneLineNaming(t, err, path)
			var f1 *Format1Error
			if !strings.Contains(err.Error(), "is not a setupkeys journal") && !errors.As(err, &f1) {
				checkBadLine(t, dir, data, path, err)
			}
			return
		}
		lines := completeLines(data)
		if tail := data[len(bytes.Join(lines, nil)):]; len(tail) > 0 && len(entries) == len(lines)+1 {
			lines = append(lines, tail) // a complete last entry without its newline
		}
		if len(entries) != len(lines) {
			t.Fatalf("%d entries from %d lines", len(entries), len(lines))
		}
		prev := ""
		for i, e := range entries {
			if !json.Valid(lines[i]) {
				t.Fatalf("entry %d read from a line that is not exactly one JSON value: %q", i, lines[i])
			}
			if e.Seq != i+1 || e.Prev != prev {
				t.Fatalf("entry %d: seq %d, prev %q: not chained", i, e.Seq, e.Prev)
			}
			if sum, _ := entrySum(e); sum != e.Sum {
				t.Fatalf("entry %d: sum %q, want %q", i, e.Sum, sum)
			}
			prev = e.Sum
			checkEntry(t, i, e)
		}
		j := &journal{last: map[journalKey]Phase{}, lastRun: map[journalKey]string{}, done: map[journalKey]int{}, pending: map[journalKey]bool{}}
		for _, e := range entries {
			j.add(e)
		}
		for _, c := range Candidates(entries, "") {
			if c.PlanID == "" || c.AccountID == "" || c.User == "" || c.AccessKeyID == "" {
				t.Fatalf("rollback candidate without what rollback needs: %+v", c)
			}
			j.deactivated(c.PlanID, c.AccessKeyID)
		}
	})
}

// checkEntry checks one journal entry has what Apply and Rollback rely on.
func checkEntry(t *testing.T, i int, e Entry) {
	t.Helper()
	switch e.Action {
	case ActionDeactivate, ActionDelete, ActionReactivate:
	default:
		t.Fatalf("entry %d: action %q accepted", i, e.Action)
	}
	switch e.Phase {
	case PhaseIntent, PhaseDone, PhaseFailed, PhaseSkipped, PhaseUnknown:
	default:
		t.Fatalf("entry %d: phase %q accepted", i, e.Phase)
	}
	if e.Time.IsZero() || e.PlanID == "" || e.AccountID == "" || e.User == "" || e.AccessKeyID == "" {
		t.Fatalf("entry %d without time, plan, account, user or key accepted: %+v", i, e)
	}
}

// checkBadLine checks the line err names: every line before it reads, and it alone does not.
func checkBadLine(t *testing.T, dir string, data []byte, path string, err error) {
	t.Helper()
	var n int
	if _, serr := fmt.Sscanf(err.Error()[strings.Index(err.Error(), path+":")+len(path)+1:], "%d:", &n); serr != nil {
		t.Fatalf("error does not name a line: %v", err)
	}
	lines := completeLines(data)
	if n < 2 || n > len(lines)+1 {
		t.Fatalf("error names line %d of %d lines: %v", n, len(lines), err)
	}
	before := writeTemp(t, dir, bytes.Join(lines[:n-1], nil))
	defer os.Remove(before)
	if _, err := ReadJournal(before); err != nil {
		t.Fatalf("the lines before line %d do not read alone: %v", n, err)
	}
}

// completeLines splits data after each newline, dropping a torn last line.
func completeLines(data []byte) [][]byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if last := lines[len(lines)-1]; !bytes.HasSuffix(last, []byte("\n")) {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func writeTemp(t *testing.T, dir string, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "journal-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// assertOneLineNaming: err says where, in one line.
func assertOneLineNaming(t *testing.T, err error, name string) {
	t.Helper()
	msg := err.Error()
	if !strings.Contains(msg, name) {
		t.Fatalf("error does not name %s: %v", name, err)
	}
	if strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error is not one line: %q", msg)
	}
}

// FuzzReadFormat1Journal: any bytes either read as a journal (of format 1, or chained) or fail
// with ErrBadJournal in one line naming the file; never a panic. What a format 1 journal gives is
// one entry per complete line (a complete last line without its newline included, a torn one
// not), each with what Rollback relies on and no phase format 1 did not have. Seeds: the format 1
// journals of real runs in testdata/fuzz/FuzzReadFormat1Journal and the fixture.
func FuzzReadFormat1Journal(f *testing.F) {
	fixture, err := os.ReadFile("testdata/journal-format1.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture)
	f.Add(fixture[:len(fixture)-1])                                                                       // a complete last line without its newline
	f.Add(fixture[:len(fixture)-40])                                                                      // a torn last line
	f.Add(append([]byte("\ufeff"), fixture...))                                                           // a byte order mark
	f.Add(bytes.Replace(fixture, []byte(`"phase":"done"`), []byte(`"phase":"done","phase":"intent"`), 1)) // a duplicate key
	f.Add(bytes.Replace(fixture, []byte(`"user":"setup-0"`), []byte(`"user":"setup-\u001b[2J"`), 1))
	f.Add(append(bytes.Clone(fixture), append([]byte(`{"time":"`), bytes.Repeat([]byte("x"), maxJournalLine+1)...)...)) // an oversize line
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeTemp(t, dir, data)
		defer os.Remove(path)
		entries, err := ReadFormat1Journal(path)
		if err != nil {
			if entries != nil {
				t.Fatal("both entries and an error")
			}
			if !errors.Is(err, ErrBadJournal) {
				t.Fatalf("error is not ErrBadJournal: %v", err)
			}
			assertOneLineNaming(t, err, path)
			return
		}
		lines := completeLines(data)
		if tail := data[len(bytes.Join(lines, nil)):]; len(tail) > 0 && len(entries) == len(lines)+1 {
			lines = append(lines, tail)
		}
		if len(entries) != len(lines) {
			t.Fatalf("%d entries from %d lines", len(entries), len(lines))
		}
		chained := len(entries) > 0 && entries[0].Seq == 1
		for i, e := range entries {
			if !json.Valid(lines[i]) {
				t.Fatalf("entry %d read from a line that is not exactly one JSON value: %q", i, lines[i])
			}
			checkEntry(t, i, e)
			if !chained && (e.Seq != 0 || e.Sum != "" || e.Phase == PhaseUnknown) {
				t.Fatalf("format 1 entry %d with what format 1 did not have: %+v", i, e)
			}
		}
		for _, c := range DoneOnly(Candidates(entries, "")) {
			if c.Unsettled || c.PlanID == "" || c.AccessKeyID == "" {
				t.Fatalf("rollback candidate of a format 1 journal without a recorded done: %+v", c)
			}
		}
	})
}

// chainedJournal is a journal of three chained entries as Apply writes them: an intent and its
// done, then an intent whose outcome was never written.
func chainedJournal(f *testing.F, dir string) []byte {
	path := dir + "/seed.jsonl"
	j, err := openJournal(path, func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }, false)
	if err != nil {
		f.Fatal(err)
	}
	defer j.close()
	for _, e := range []Entry{
		{PlanID: "plan-0a588d54e8bb61ad", PlanDigest: "sha256:" + strings.Repeat("ab", 32), AccountID: "111111111111", Action: ActionDeactivate, Phase: PhaseIntent, User: "u1", AccessKeyID: "AKIAKEY0000000000001"},
		{PlanID: "plan-0a588d54e8bb61ad", PlanDigest: "sha256:" + strings.Repeat("ab", 32), AccountID: "111111111111", Action: ActionDeactivate, Phase: PhaseDone, User: "u1", AccessKeyID: "AKIAKEY0000000000001"},
		{PlanID: "plan-0a588d54e8bb61ad", PlanDigest: "sha256:" + strings.Repeat("ab", 32), AccountID: "111111111111", Action: ActionDeactivate, Phase: PhaseIntent, User: "u2", AccessKeyID: "AKIAKEY0000000000002"},
	} {
		if err := j.append(e); err != nil {
			f.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzParseDigest: --plan-digest gives sha256: and 64 lower-case hex digits, or an error.
func FuzzParseDigest(f *testing.F) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for _, s := range []string{"sha256:" + hex, hex, strings.ToUpper(hex), " sha256:" + hex + "\n", "sha256:", "md5:" + hex, hex + "0", "sha256:" + hex + "\x1b[2J", "\ufeffsha256:" + hex} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\x00\x1b\r\n") {
				t.Fatalf("message with a control character: %q", err)
			}
			return
		}
		if len(d) != len("sha256:")+64 || !strings.HasPrefix(d, "sha256:") || strings.Trim(d[7:], "0123456789abcdef") != "" {
			t.Fatalf("%q gave %q", s, d)
		}
	})
}
