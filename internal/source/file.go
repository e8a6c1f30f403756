// Package source turns where the data lives (a report file, a live account, an organization) into
// account results: users read, the rule applied, findings kept. Only findings stay in memory.
package source

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport"
	"github.com/setupkeys/setupkeys/internal/rule"
)

// Options are what every source needs to judge keys.
type Options struct {
	Rule rule.Options
	// KeepPassing keeps passing keys' findings (--all); otherwise they are only counted.
	KeepPassing bool
}

// keep judges u's keys and adds the findings to res, counting passes and building their findings
// only when asked. buf is scratch space reused across users.
func (o Options) keep(res *setupkeys.AccountResult, u setupkeys.User, src setupkeys.Source, buf []rule.Verdict) []rule.Verdict {
	buf = rule.Judge(u, o.Rule, buf)
	for _, v := range buf {
		if v.Status == setupkeys.StatusPass {
			res.Passed++
			if !o.KeepPassing {
				continue
			}
		}
		res.Findings = append(res.Findings, rule.NewFinding(u, v, src))
	}
	return buf
}

// WarnIfOld adds a warning to res, a report file's result, when the report says when it was
// generated (the JSON that get-credential-report prints does) and that was more than an hour
// before now: a live audit warns of its report's age, and an old file deserves the same word.
func WarnIfOld(res *setupkeys.AccountResult, now time.Time) {
	g := res.Source.GeneratedTime
	if g == nil {
		return
	}
	if age := now.Sub(*g); age > staleReport {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"the report was generated at %s, %s ago: users, keys and key use since then are not in it; audit the live account (or a fresh report) for today's state",
			g.UTC().Format(time.RFC3339), setupkeys.FormatGap(age.Truncate(time.Minute))))
	}
}

// FromReport audits a credential report read from r. name is the file's name for messages and the
// source. kind tells whether the bytes came from a file or from a live account's report.
func FromReport(r io.Reader, name string, kind setupkeys.SourceKind, opts Options) (setupkeys.AccountResult, error) {
	rd, err := credreport.NewReader(r, name)
	if err != nil {
		return setupkeys.AccountResult{}, err
	}
	src := setupkeys.Source{Kind: kind, GeneratedTime: rd.GeneratedTime()}
	if kind == setupkeys.SourceReportFile {
		src.File = name
	}
	res := setupkeys.AccountResult{Source: src}
	// A report has one row per user; a repeated ARN means the file was edited or concatenated.
	// Remember each ARN and a few bytes per user (not the rows) to say so, and to judge each key
	// once: the first row that shows a key decides it. The ARN itself is the key, so two users
	// are never taken for one (a hash of it was: crafted names collide).
	seen := map[string]seenUser{}
	var arns arena
	var verdicts []rule.Verdict
	for {
		u, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return setupkeys.AccountResult{}, err
		}
		res.Users++
		if res.AccountID == "" && u.AccountID != "" {
			res.AccountID = u.AccountID
		}
		first, dup := seen[u.ARN]
		if dup {
			res.Users--
			u.Keys = first.unjudged(u.Keys)
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s:%d: user %s appears again (first on line %d): keys already judged there are not judged again", name, u.Line, u.Name, first.line))
		}
		if dup {
			seen[u.ARN] = first.add(u)
		} else {
			seen[arns.clone(u.ARN)] = first.add(u)
		}
		verdicts = opts.keep(&res, u, src, verdicts)
	}
	return res, nil
}

// seenUser is what FromReport remembers of a user, 24 bytes: its first line and the creation
// seconds of the keys judged so far (a row has two slots; a third key, only possible when rows
// repeat with different keys, is judged again).
type seenUser struct {
	line  int32
	nkeys int32
	keys  [2]int64
}

func (s seenUser) add(u setupkeys.User) seenUser {
	if s.line == 0 {
		s.line = int32(u.Line)
	}
	for _, k := range u.Keys {
		if int(s.nkeys) < len(s.keys) {
			s.keys[s.nkeys] = k.Created.Unix()
			s.nkeys++
		}
	}
	return s
}

// unjudged returns the keys not judged on an earlier row of the same user.
func (s seenUser) unjudged(keys []setupkeys.AccessKey) []setupkeys.AccessKey {
	var out []setupkeys.AccessKey
	for _, k := range keys {
		if !slices.Contains(s.keys[:s.nkeys], k.Created.Unix()) {
			out = append(out, k)
		}
	}
	return out
}

// arenaChunk is the size of the strings an arena copies into.
const arenaChunk = 64 << 10

// arena copies strings end to end into large shared ones, so that keeping many short strings
// costs their bytes and no allocation each. It matters for report fields: they are slices of
// their row's string, so keeping a field as is would keep the whole row.
type arena struct{ b strings.Builder }

// clone returns a copy of s that lives in the arena.
func (a *arena) clone(s string) string {
	if a.b.Cap()-a.b.Len() < len(s) {
		// Strings handed out so far keep the old buffer alive; a Builder never rewrites bytes
		// it has written.
		a.b = strings.Builder{}
		a.b.Grow(max(arenaChunk, len(s)))
	}
	start := a.b.Len()
	a.b.WriteString(s)
	return a.b.String()[start:]
}
