package remediate

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys/internal/atomicfile"
	"github.com/setupkeys/setupkeys/internal/strictjson"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// Phase is where an entry stands in one key's action.
type Phase string

const (
	// PhaseIntent is written, and synced, right before the IAM call.
	PhaseIntent Phase = "intent"
	// PhaseDone: the call succeeded, or a re-run found the key already in the target state
	// after an interrupted intent (Recovered).
	PhaseDone Phase = "done"
	// PhaseFailed: IAM answered the call with an error, or the check before it failed; nothing
	// was changed and a re-run tries again.
	PhaseFailed Phase = "failed"
	// PhaseSkipped: a precondition no longer held; a re-run checks again.
	PhaseSkipped Phase = "skipped"
	// PhaseUnknown: the call was sent but no answer came (a timeout, a cut connection): IAM may
	// or may not have acted. Like an intent without an outcome, the next run resolves it from
	// the key's live state and reports it as recovered.
	PhaseUnknown Phase = "unknown"
)

// Entry is one line of the journal.
//
// Entries are chained: Seq numbers them from 1, Sum is the SHA-256 of the entry itself (written
// with Sum empty) and Prev is the Sum of the entry before, so a line inserted, edited, removed
// or appended by hand breaks the chain and the journal is refused, naming the line. The chain
// is not a signature: it catches hand edits and damage, not someone who recomputes every hash.
type Entry struct {
	Seq    int       `json:"seq"`
	Prev   string    `json:"prev"`
	Time   time.Time `json:"time"`
	PlanID string    `json:"plan_id"`
	// PlanDigest is the digest of the plan file the run applied (Plan.Digest), when known: the
	// journal says which exact file was acted on.
	PlanDigest string `json:"plan_digest,omitempty"`
	// Run identifies the process run that wrote the entry.
	Run string `json:"run"`
	// AccountID is the account of the key.
	AccountID string `json:"account_id"`
	// CallerAccount is set only by multi-account plans: the plan's caller account, whose
	// credentials reached AccountID through a role. Rollback then asks for the same caller and
	// reaches each account the same way; without it, AccountID must be the caller's own.
	CallerAccount string `json:"caller_account,omitempty"`
	Action        Action `json:"action"`
	Phase         Phase  `json:"phase"`
	User          string `json:"user"`
	AccessKeyID   string `json:"access_key_id"`
	FindingID     string `json:"finding_id,omitempty"`
	// Reason says why a key was skipped or failed, or how a done was established.
	Reason string `json:"reason,omitempty"`
	// Recovered marks a done written without acting: a re-run found the key already in the
	// target state after an intent that had no done.
	Recovered bool   `json:"recovered,omitempty"`
	Sum       string `json:"sum"`
}

// entrySum is the hash an entry's Sum must hold: of its JSON encoding with Sum empty.
func entrySum(e Entry) (string, error) {
	e.Sum = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Limits on what the journal reader accepts. A journal holds one line per phase of each key:
// a few hundred bytes each, so a real one is far below these; past them it is not a journal
// (or someone pointed --journal at /dev/zero).
const (
	MaxJournalSize = 64 << 20
	maxJournalLine = 64 << 10
)

// key is what the journal indexes: one action on one key under one plan.
type journalKey struct {
	planID, keyID string
	action        Action
}

func (e Entry) key() journalKey { return journalKey{e.PlanID, e.AccessKeyID, e.Action} }

// journal is an open, locked journal file.
type journal struct {
	path    string
	f       *os.File
	run     string
	now     func() time.Time
	entries []Entry
	// prev is the last entry's Sum, for the next entry's Prev.
	prev string
	// last holds each key's latest phase and run; done the index in entries of its latest
	// done; pending the keys whose outcome is open (see outcomeOpen).
	last    map[journalKey]Phase
	lastRun map[journalKey]string
	done    map[journalKey]int
	pending map[journalKey]bool
	// notes say what opening did to the file (a torn last line cut), for the person.
	notes []string
	// format1: the file is a journal of format 1 (unchained), opened for a rollback that asked
	// for it; entries are appended in that format.
	format1 bool
}

// openJournal opens and locks the journal at path and reads what it holds. It never destroys
// data: a symbolic link is refused (never followed), a new journal is created exclusively
// (mode 0600), and an existing file that is not a setupkeys journal (not a regular file, or
// not journal lines) is refused with ErrBadJournal and left untouched. A complete last entry
// that lacks only its newline is kept (the newline is added); only a torn last line, a write
// that never completed, is cut, and a note says so. A torn entry was never synced, so nothing
// was done on its strength (an intent is synced before the call; a torn outcome leaves the
// intent open, which a re-run re-verifies). A journal of format 1 is a *Format1Error unless
// format1 allows it (a rollback asked for it).
func openJournal(path string, now func() time.Time, format1 bool) (*journal, error) {
	if path == "" {
		return nil, errors.New("no journal path given")
	}
	f, created, err := openJournalFile(path)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrJournalBusy, termsafe.String(path), err)
	}
	j := &journal{path: path, f: f, run: newRunID(), now: now, last: map[journalKey]Phase{}, lastRun: map[journalKey]string{}, done: map[journalKey]int{}, pending: map[journalKey]bool{}}
	if created {
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		return j, nil
	}
	data, err := readJournalData(f, path)
	if err != nil {
		j.close()
		return nil, err
	}
	parsed, err := parseJournal(data, path)
	var f1 *Format1Error
	if errors.As(err, &f1) && format1 {
		parsed, err = parseJournalFormat1(data, path)
		j.format1 = true
	}
	if err != nil {
		j.close()
		return nil, err
	}
	switch {
	case parsed.tornAt >= 0:
		if err := f.Truncate(int64(parsed.tornAt)); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: cutting off a torn last line: %w", err)
		}
		j.notes = append(j.notes, fmt.Sprintf("journal %s: cut a torn last line (line %d, %d bytes): a write that never completed, so nothing was done on its strength", termsafe.String(path), len(parsed.entries)+1, len(data)-parsed.tornAt))
	case parsed.missingNewline:
		// A complete entry without its newline: keep it; the next entry must start a line.
		if _, err := f.Write([]byte{'\n'}); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: completing the last line of %s: %w", termsafe.String(path), err)
		}
	}
	if parsed.tornAt >= 0 || parsed.missingNewline {
		if err := f.Sync(); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	for _, e := range parsed.entries {
		j.add(e)
	}
	j.prev = parsed.lastHash
	return j, nil
}

// openJournalFile opens an existing journal for appending, or creates a new one exclusively.
// It never follows a symbolic link and refuses anything but a regular file.
func openJournalFile(path string) (f *os.File, created bool, err error) {
	name := termsafe.String(path)
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, false, fmt.Errorf("%w: %s is a symbolic link: refusing to follow it (give the journal's real path)", ErrBadJournal, name)
	}
	for attempt := 0; attempt < 2; attempt++ {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|openFlags, 0)
		if errors.Is(err, os.ErrNotExist) {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL|openFlags, 0o600)
			if errors.Is(err, os.ErrExist) {
				continue // made by someone else in between (or a dangling link): look again
			}
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", ErrJournalUnusable, err)
			}
			return f, true, nil
		}
		break
	}
	if err != nil {
		if isSymlinkLoop(err) {
			return nil, false, fmt.Errorf("%w: %s is a symbolic link: refusing to follow it (give the journal's real path)", ErrBadJournal, name)
		}
		return nil, false, fmt.Errorf("%w: %w", ErrJournalUnusable, err)
	}
	if err := checkRegular(f, path); err != nil {
		f.Close()
		return nil, false, err
	}
	return f, false, nil
}

func checkRegular(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%s): not a setupkeys journal; nothing was changed", ErrBadJournal, termsafe.String(path), fi.Mode().Type())
	}
	if fi.Size() > MaxJournalSize {
		return fmt.Errorf("%w: %s is %d bytes, over the %s journal limit: not a setupkeys journal; nothing was changed", ErrBadJournal, termsafe.String(path), fi.Size(), strictjson.Size(MaxJournalSize))
	}
	return nil
}

func readJournalData(f *os.File, path string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, MaxJournalSize+1))
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", termsafe.String(path), err)
	}
	if len(data) > MaxJournalSize {
		return nil, fmt.Errorf("%w: %s is over the %s journal limit: not a setupkeys journal; nothing was changed", ErrBadJournal, termsafe.String(path), strictjson.Size(MaxJournalSize))
	}
	return data, nil
}

// parsedJournal is what parseJournal found.
type parsedJournal struct {
	entries []Entry
	// lastHash is the last entry's Sum ("" when none).
	lastHash string
	// tornAt is the offset of a torn last line to cut, -1 when none.
	tornAt int
	// missingNewline: the last entry is complete but lacks its newline.
	missingNewline bool
}

// tornPrefix is how every entry line starts; a torn write is a prefix of an entry line.
const tornPrefix = `{"seq":`

// parseJournal parses and verifies the journal's lines: each a strict JSON entry, chained to
// the one before, consistent with what came before (a done needs its intent). A last line
// without its newline is kept when it is a complete entry and is a torn write otherwise (cut by
// openJournal) when it looks like the start of one; anything else is damage: an error that
// names the line.
func parseJournal(data []byte, name string) (parsedJournal, error) {
	st := newJournalState()
	prev := ""
	out, err := parseLines(data, name, func(line int, raw []byte, last bool) (Entry, bool, error) {
		e, err := decodeEntry(name, line, raw)
		if err == nil {
			err = st.check(name, line, e, prev)
		}
		switch {
		case err == nil:
			prev = e.Sum
			return e, false, nil
		case last && looksTorn(raw, tornPrefix):
			return Entry{}, true, nil
		case line == 1 && isFormat1Entry(name, line, raw):
			return Entry{}, false, &Format1Error{Path: name}
		case line == 1:
			return Entry{}, false, fmt.Errorf("%w: %s is not a setupkeys journal (%v); refusing to use it, nothing was changed", ErrBadJournal, termsafe.String(name), unwrapPlace(err))
		}
		return Entry{}, false, err
	})
	if n := len(out.entries); n > 0 {
		out.lastHash = out.entries[n-1].Sum
	}
	return out, err
}

// parseLines walks a journal's lines, of either format, for parse: it returns the line's entry,
// or torn when the line is the torn write of one (a last line, lacking its newline), or the
// damage. A line over maxJournalLine is damage before parse sees it.
func parseLines(data []byte, name string, parse func(line int, raw []byte, last bool) (e Entry, torn bool, err error)) (parsedJournal, error) {
	out := parsedJournal{tornAt: -1}
	line := 0
	for off := 0; off < len(data); {
		line++
		raw := data[off:]
		nl := bytes.IndexByte(raw, '\n')
		last := nl < 0
		if !last {
			raw = raw[:nl]
		}
		if len(raw) > maxJournalLine {
			return parsedJournal{}, journalDamage(name, line, fmt.Sprintf("line is longer than %s", strictjson.Size(maxJournalLine)))
		}
		e, torn, err := parse(line, raw, last)
		if err != nil {
			return parsedJournal{}, err
		}
		if torn {
			out.tornAt = off
			return out, nil
		}
		out.entries = append(out.entries, e)
		if last {
			out.missingNewline = true
			break
		}
		off += nl + 1
	}
	return out, nil
}

// looksTorn reports whether raw is a prefix of an entry line starting with prefix, or starts
// like one: what a write cut short leaves.
func looksTorn(raw []byte, prefix string) bool {
	if len(raw) < len(prefix) {
		return strings.HasPrefix(prefix, string(raw))
	}
	return bytes.HasPrefix(raw, []byte(prefix))
}

// unwrapPlace drops the ErrBadJournal prefix for a message that adds its own.
func unwrapPlace(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadJournal.Error()+": ")
}

func journalDamage(name string, line int, what string) error {
	return fmt.Errorf("%w: %s:%d: %s", ErrBadJournal, termsafe.String(name), line, what)
}

// decodeEntry reads one line strictly and checks it is a whole entry.
func decodeEntry(name string, line int, raw []byte) (Entry, error) {
	var e Entry
	if len(bytes.TrimSpace(raw)) == 0 {
		return e, journalDamage(name, line, "empty line")
	}
	// Strict: exact names, no duplicate (a second "phase" must not hide the first), no
	// unknown field, one entry per line (two writes run together are damage).
	if err := strictjson.UnmarshalAt(name, line, raw, &e); err != nil {
		return e, fmt.Errorf("%w: %w", ErrBadJournal, err)
	}
	return e, checkEntryFields(name, line, e)
}

// checkEntryFields checks that a decoded entry, of either format, is whole and names an action
// and a phase Apply and Rollback know.
func checkEntryFields(name string, line int, e Entry) error {
	if e.Time.IsZero() || e.PlanID == "" || e.AccountID == "" || e.User == "" || e.AccessKeyID == "" || e.Action == "" || e.Phase == "" || e.Run == "" {
		return journalDamage(name, line, "not a setupkeys journal entry")
	}
	// Apply and Rollback act on these values only; any other is damage or a newer format,
	// and reading past it would drop what it recorded (a deactivation never rolled back).
	switch e.Action {
	case ActionDeactivate, ActionDelete, ActionReactivate:
	default:
		return journalDamage(name, line, fmt.Sprintf("unknown action %s", termsafe.Quote(string(e.Action))))
	}
	switch e.Phase {
	case PhaseIntent, PhaseDone, PhaseFailed, PhaseSkipped, PhaseUnknown:
	default:
		return journalDamage(name, line, fmt.Sprintf("unknown phase %s", termsafe.Quote(string(e.Phase))))
	}
	return nil
}

// journalState follows the entries as they are read, to check each against what came before.
type journalState struct {
	seq int
	// open holds, per key, the run of its latest intent still without an outcome ("" when none).
	open map[journalKey]string
	// unknown marks keys whose latest outcome is unknown.
	unknown map[journalKey]bool
	// digest is each plan's digest as first recorded.
	digest map[string]string
}

func newJournalState() *journalState {
	return &journalState{open: map[journalKey]string{}, unknown: map[journalKey]bool{}, digest: map[string]string{}}
}

// check verifies that e, read at line, continues the chain after a line hashing to prev and
// follows from the entries before it, then records it.
func (s *journalState) check(name string, line int, e Entry, prev string) error {
	if sum, err := entrySum(e); err != nil || sum != e.Sum {
		return journalDamage(name, line, "the entry does not match its sum: edited by hand; refusing the journal")
	}
	if e.Seq != s.seq+1 || e.Prev != prev {
		return journalDamage(name, line, "the entry is not chained to the one before it (seq or prev does not match): a line was inserted, removed or appended by hand; refusing the journal")
	}
	if d, ok := s.digest[e.PlanID]; ok && d != e.PlanDigest {
		return journalDamage(name, line, fmt.Sprintf("plan %s is recorded with another digest than on the lines before; refusing the journal", termsafe.String(e.PlanID)))
	}
	k := e.key()
	switch e.Phase {
	case PhaseIntent:
		s.open[k] = e.Run
		delete(s.unknown, k)
	case PhaseDone:
		// A done records a change carried out: it follows its own intent, written by the same
		// run, or, when recovered, an intent or unknown outcome of an earlier run.
		run, isOpen := s.open[k]
		switch {
		case e.Recovered && (isOpen || s.unknown[k]):
		case !e.Recovered && isOpen && run == e.Run:
		default:
			return journalDamage(name, line, "a done entry without the intent it completes: not written by setupkeys; refusing the journal")
		}
		delete(s.open, k)
		delete(s.unknown, k)
	case PhaseUnknown:
		if run, isOpen := s.open[k]; !isOpen || run != e.Run {
			return journalDamage(name, line, "an unknown outcome without the intent it completes: not written by setupkeys; refusing the journal")
		}
		delete(s.open, k)
		s.unknown[k] = true
	case PhaseSkipped:
		delete(s.open, k)
		delete(s.unknown, k)
	case PhaseFailed:
		// After its own intent IAM answered with an error: nothing changed. Without one (the
		// check before acting failed), an earlier open outcome stays open.
		if run, isOpen := s.open[k]; isOpen && run == e.Run {
			delete(s.open, k)
		}
	}
	s.seq = e.Seq
	s.digest[e.PlanID] = e.PlanDigest
	return nil
}

// ReadJournal reads and verifies every complete entry of the journal at path without locking
// it or changing it; a torn last line is ignored. A symbolic link, a file that is not regular
// or over MaxJournalSize, and a journal whose chain is broken are refused (ErrBadJournal); a
// journal of format 1 is a *Format1Error (read it with ReadFormat1Journal).
func ReadJournal(path string) ([]Entry, error) {
	data, err := readJournalFile(path)
	if err != nil {
		return nil, err
	}
	parsed, err := parseJournal(data, path)
	return parsed.entries, err
}

// readJournalFile reads the journal at path whole, without following a link.
func readJournalFile(path string) ([]byte, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: %s is a symbolic link: refusing to follow it (give the journal's real path)", ErrBadJournal, termsafe.String(path))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		if isSymlinkLoop(err) {
			return nil, fmt.Errorf("%w: %s is a symbolic link: refusing to follow it", ErrBadJournal, termsafe.String(path))
		}
		return nil, err
	}
	defer f.Close()
	if err := checkRegular(f, path); err != nil {
		return nil, err
	}
	return readJournalData(f, path)
}

func (j *journal) add(e Entry) {
	k := e.key()
	switch e.Phase {
	case PhaseIntent, PhaseUnknown:
		j.pending[k] = true
	case PhaseDone:
		j.done[k] = len(j.entries)
		delete(j.pending, k)
	case PhaseSkipped:
		delete(j.pending, k)
	case PhaseFailed:
		if j.last[k] == PhaseIntent && j.lastRun[k] == e.Run {
			delete(j.pending, k) // IAM answered the call with an error: nothing changed
		}
	}
	j.last[k], j.lastRun[k] = e.Phase, e.Run
	j.entries = append(j.entries, e)
}

// lastDone returns the latest done entry for k and its place in the journal (-1 when none).
func (j *journal) lastDone(k journalKey) (Entry, int) {
	i, ok := j.done[k]
	if !ok {
		return Entry{}, -1
	}
	return j.entries[i], i
}

// deactivated reports whether the journal deactivated the key under the plan and no rollback
// re-activated it since, with the done entry.
func (j *journal) deactivated(planID, keyID string) (Entry, bool) {
	e, at := j.lastDone(journalKey{planID, keyID, ActionDeactivate})
	if at < 0 {
		return Entry{}, false
	}
	_, re := j.lastDone(journalKey{planID, keyID, ActionReactivate})
	return e, re < at
}

// outcomeOpen reports whether k's last call has no known outcome: an intent without an
// outcome (a run stopped between the two) or an unknown outcome (no answer came), and no run
// since has settled it (a done, a skip, or IAM's own error answer to a new call).
func (j *journal) outcomeOpen(k journalKey) bool { return j.pending[k] }

// append writes one entry as one line in one write, chained to the line before, then syncs it.
func (j *journal) append(e Entry) error {
	if j.format1 {
		return j.appendFormat1(e)
	}
	e.Seq = len(j.entries) + 1
	e.Prev = j.prev
	e.Time = j.now().UTC()
	e.Run = j.run
	sum, err := entrySum(e)
	if err != nil {
		return err
	}
	e.Sum = sum
	if err := j.writeLine(e); err != nil {
		return err
	}
	j.prev = e.Sum
	j.add(e)
	return nil
}

// writeLine writes v's JSON as one line in one write and syncs it.
func (j *journal) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: writing %s: %w", termsafe.String(j.path), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: syncing %s: %w", termsafe.String(j.path), err)
	}
	return nil
}

func (j *journal) close() error {
	unlockFile(j.f)
	return j.f.Close()
}

func newRunID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Sprintf("run-%d", time.Now().UnixNano())
	}
	return "run-" + hex.EncodeToString(b[:])
}
