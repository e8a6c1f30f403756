package remediate

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/setupkeys/setupkeys/internal/strictjson"
)

// Phase is where an entry stands in one key's action.
type Phase string

const (
	// PhaseIntent is written, and synced, right before the IAM call.
	PhaseIntent Phase = "intent"
	// PhaseDone: the call succeeded, or a re-run found the key already in the target state
	// after an interrupted intent (Recovered).
	PhaseDone Phase = "done"
	// PhaseFailed: the call or the check before it failed; a re-run tries again.
	PhaseFailed Phase = "failed"
	// PhaseSkipped: a precondition no longer held; a re-run checks again.
	PhaseSkipped Phase = "skipped"
)

// Entry is one line of the journal.
type Entry struct {
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
	Recovered bool `json:"recovered,omitempty"`
}

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
	// last holds each key's latest phase; done the index in entries of its latest done.
	last map[journalKey]Phase
	done map[journalKey]int
}

// openJournal opens (creating, mode 0600) and locks the journal at path, reads what it holds,
// and cuts off a torn last line: an entry whose write never completed was never synced, so
// nothing was done on its strength (an intent is synced before the call; a torn done leaves the
// intent open, which a re-run re-verifies).
func openJournal(path string, now func() time.Time) (*journal, error) {
	if path == "" {
		return nil, errors.New("no journal path given")
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJournalUnusable, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrJournalBusy, path, err)
	}
	j := &journal{path: path, f: f, run: newRunID(), now: now, last: map[journalKey]Phase{}, done: map[journalKey]int{}}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		j.close()
		return nil, fmt.Errorf("journal: %s: %w", path, err)
	}
	entries, valid, err := parseJournal(data, path)
	if err != nil {
		j.close()
		return nil, err
	}
	if valid < len(data) {
		if err := f.Truncate(int64(valid)); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: cutting off a torn last line: %w", err)
		}
		if err := f.Sync(); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	for _, e := range entries {
		j.add(e)
	}
	return j, nil
}

// parseJournal parses complete lines. valid is the length of the well-formed prefix: a last
// line without its newline is a torn write. A bad complete line is damage and an error.
func parseJournal(data []byte, name string) (entries []Entry, valid int, err error) {
	line := 0
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			return entries, off, nil // torn last line
		}
		line++
		raw := data[off : off+nl]
		off += nl + 1
		if len(bytes.TrimSpace(raw)) == 0 {
			valid = off
			continue
		}
		var e Entry
		// Strict: exact names, no duplicate (a second "phase" must not hide the first), no
		// unknown field, one entry per line (two writes run together are damage).
		if err := strictjson.UnmarshalAt(name, line, raw, &e); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrBadJournal, err)
		}
		if e.Time.IsZero() || e.PlanID == "" || e.AccountID == "" || e.User == "" || e.AccessKeyID == "" || e.Action == "" || e.Phase == "" {
			return nil, 0, fmt.Errorf("%w: %s:%d: not a setupkeys journal entry", ErrBadJournal, name, line)
		}
		// Apply and Rollback act on these values only; any other is damage or a newer format,
		// and reading past it would drop what it recorded (a deactivation never rolled back).
		switch e.Action {
		case ActionDeactivate, ActionDelete, ActionReactivate:
		default:
			return nil, 0, fmt.Errorf("%w: %s:%d: unknown action %q", ErrBadJournal, name, line, e.Action)
		}
		switch e.Phase {
		case PhaseIntent, PhaseDone, PhaseFailed, PhaseSkipped:
		default:
			return nil, 0, fmt.Errorf("%w: %s:%d: unknown phase %q", ErrBadJournal, name, line, e.Phase)
		}
		entries = append(entries, e)
		valid = off
	}
	return entries, valid, nil
}

// ReadJournal reads every complete entry of the journal at path without locking it or changing
// it; a torn last line is ignored.
func ReadJournal(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	entries, _, err := parseJournal(data, path)
	return entries, err
}

func (j *journal) add(e Entry) {
	k := e.key()
	j.last[k] = e.Phase
	if e.Phase == PhaseDone {
		j.done[k] = len(j.entries)
	}
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

// intentOpen reports whether the latest entry for k is an intent: a run stopped between the
// intent and its outcome.
func (j *journal) intentOpen(k journalKey) bool { return j.last[k] == PhaseIntent }

// append writes one entry as one line in one write, then syncs it to disk.
func (j *journal) append(e Entry) error {
	e.Time = j.now().UTC()
	e.Run = j.run
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: writing %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: syncing %s: %w", j.path, err)
	}
	j.add(e)
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
