// Package source turns where the data lives (a report file, a live account's credential report
// with the live confirmation of the keys it flags, or the IAM API user by user) into user rows,
// handed to a Rows as they are read. A source judges nothing: the audit pipeline runs the rule,
// once per key. It keeps no row once handed on, only what it needs to spot a repeated one, so
// memory stays flat in the number of users.
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

// Options are what the live sources need to know of the audit.
type Options struct {
	// Rule is the rule's options: its window says which keys a live report confirms and whose
	// last use --exact reads.
	Rule rule.Options
	// KeepPassing: passing keys will be listed (--all), so --exact reads the last use of every
	// active key, for their evidence.
	KeepPassing bool
}

// Rows receives what a source reads of one account, in order, from the goroutine that called the
// source.
type Rows interface {
	// Source is called once, before the first row, with where the rows come from.
	Source(setupkeys.Source)
	// User takes one user row, its keys as the source knows them now. again: the user was on an
	// earlier row (a report with repeated rows); the row holds only the keys not seen there.
	// An error stops the source, which returns it.
	User(u setupkeys.User, again bool) error
	// Warn takes a fact about the account the reader should know.
	Warn(string)
}

// staleFileWarning is the warning for a report file generated more than an hour before now, when
// the file says when (the JSON that get-credential-report prints does): a live audit warns of
// its report's age, and an old file deserves the same word. "" when there is nothing to say.
func staleFileWarning(generated *time.Time, now time.Time) string {
	if generated == nil {
		return ""
	}
	age := now.Sub(*generated)
	if age <= staleReport {
		return ""
	}
	return fmt.Sprintf(
		"the report was generated at %s, %s ago: users, keys and key use since then are not in it; audit the live account (or a fresh report) for today's state",
		generated.UTC().Format(time.RFC3339), setupkeys.FormatGap(age.Truncate(time.Minute)))
}

// ReportFile reads the credential report file r, named name in messages and in the source, and
// hands its user rows to rows. now is the clock that says how old the report is.
func ReportFile(r io.Reader, name string, now time.Time, rows Rows) error {
	rd, err := credreport.NewReader(r, name)
	if err != nil {
		return err
	}
	rows.Source(setupkeys.Source{Kind: setupkeys.SourceReportFile, File: name, GeneratedTime: rd.GeneratedTime()})
	if err := readRows(rd, name, rows.User, rows.Warn); err != nil {
		return err
	}
	if w := staleFileWarning(rd.GeneratedTime(), now); w != "" {
		rows.Warn(w)
	}
	return nil
}

// readRows reads every user row of rd and hands it to emit. A report has one row per user; a
// repeated ARN means the file was edited or concatenated. readRows remembers each ARN and a few
// bytes per user (not the rows) to say so, and to hand each key on once: the first row that
// shows a key decides it. The ARN itself is the key, so two users are never taken for one (a hash
// of it was: crafted names collide).
func readRows(rd *credreport.Reader, name string, emit func(setupkeys.User, bool) error, warn func(string)) error {
	seen := map[string]seenUser{}
	var arns arena
	for {
		u, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		first, again := seen[u.ARN]
		if again {
			u.Keys = first.unjudged(u.Keys)
			warn(fmt.Sprintf("%s:%d: user %s appears again (first on line %d): keys already judged there are not judged again", name, u.Line, u.Name, first.line))
			seen[u.ARN] = first.add(u)
		} else {
			seen[arns.clone(u.ARN)] = first.add(u)
		}
		if err := emit(u, again); err != nil {
			return err
		}
	}
}

// seenUser is what readRows remembers of a user, 24 bytes: its first line and the creation
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
