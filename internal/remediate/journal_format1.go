package remediate

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/setupkeys/setupkeys/internal/strictjson"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// A journal of format 1 is what setupkeys wrote before entries were chained (Entry.Seq, Prev,
// Sum): the same lines without those fields. Nothing in it proves that no line was inserted,
// edited or removed by hand, so apply never appends to one, and rollback reads one only when
// asked (RollbackOptions.Format1), re-activating only keys it records as deactivated (done).

// Format1Error is a journal of format 1 where a chained one is needed. It is ErrBadJournal
// (exit 2).
type Format1Error struct{ Path string }

func (e *Format1Error) Error() string {
	return fmt.Sprintf("journal %s is a setupkeys journal of format 1 (not tamper-evident)", termsafe.String(e.Path))
}

func (e *Format1Error) Is(target error) bool { return target == ErrBadJournal }

// entryFormat1 is one line of a format 1 journal.
type entryFormat1 struct {
	Time          time.Time `json:"time"`
	PlanID        string    `json:"plan_id"`
	PlanDigest    string    `json:"plan_digest,omitempty"`
	Run           string    `json:"run"`
	AccountID     string    `json:"account_id"`
	CallerAccount string    `json:"caller_account,omitempty"`
	Action        Action    `json:"action"`
	Phase         Phase     `json:"phase"`
	User          string    `json:"user"`
	AccessKeyID   string    `json:"access_key_id"`
	FindingID     string    `json:"finding_id,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Recovered     bool      `json:"recovered,omitempty"`
}

func (e entryFormat1) entry() Entry {
	return Entry{Time: e.Time, PlanID: e.PlanID, PlanDigest: e.PlanDigest, Run: e.Run, AccountID: e.AccountID, CallerAccount: e.CallerAccount,
		Action: e.Action, Phase: e.Phase, User: e.User, AccessKeyID: e.AccessKeyID, FindingID: e.FindingID, Reason: e.Reason, Recovered: e.Recovered}
}

func format1Of(e Entry) entryFormat1 {
	return entryFormat1{Time: e.Time, PlanID: e.PlanID, PlanDigest: e.PlanDigest, Run: e.Run, AccountID: e.AccountID, CallerAccount: e.CallerAccount,
		Action: e.Action, Phase: e.Phase, User: e.User, AccessKeyID: e.AccessKeyID, FindingID: e.FindingID, Reason: e.Reason, Recovered: e.Recovered}
}

// tornPrefixFormat1 is how every format 1 line starts.
const tornPrefixFormat1 = `{"time":`

// decodeFormat1 reads one format 1 line strictly. Format 1 had no unknown outcome.
func decodeFormat1(name string, line int, raw []byte) (Entry, error) {
	var e1 entryFormat1
	if len(bytes.TrimSpace(raw)) == 0 {
		return Entry{}, journalDamage(name, line, "empty line")
	}
	if err := strictjson.UnmarshalAt(name, line, raw, &e1); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrBadJournal, err)
	}
	e := e1.entry()
	if err := checkEntryFields(name, line, e); err != nil {
		return Entry{}, err
	}
	if e.Phase == PhaseUnknown {
		return Entry{}, journalDamage(name, line, "phase unknown is not of format 1")
	}
	return e, nil
}

// isFormat1Entry reports whether raw, the first line of a file, is a whole format 1 entry.
func isFormat1Entry(name string, line int, raw []byte) bool {
	_, err := decodeFormat1(name, line, raw)
	return err == nil
}

// parseJournalFormat1 reads a format 1 journal: every line a strict format 1 entry, a torn last
// line to cut, a complete last one without its newline kept. There is no chain to verify.
func parseJournalFormat1(data []byte, name string) (parsedJournal, error) {
	return parseLines(data, name, func(line int, raw []byte, last bool) (Entry, bool, error) {
		e, err := decodeFormat1(name, line, raw)
		if err != nil && last && looksTorn(raw, tornPrefixFormat1) {
			return Entry{}, true, nil
		}
		return e, false, err
	})
}

// ReadFormat1Journal reads the journal of format 1 at path without locking or changing it; a
// torn last line is ignored. A chained journal is read as ReadJournal does.
func ReadFormat1Journal(path string) ([]Entry, error) {
	data, err := readJournalFile(path)
	if err != nil {
		return nil, err
	}
	parsed, err := parseJournal(data, path)
	if f1 := (*Format1Error)(nil); errors.As(err, &f1) {
		parsed, err = parseJournalFormat1(data, path)
	}
	return parsed.entries, err
}

// DoneOnly drops the candidates whose deactivation the journal does not record as carried out
// (Unsettled): a journal of format 1 is rolled back only on what it records as done.
func DoneOnly(cands []RollbackCandidate) []RollbackCandidate {
	out := cands[:0:0]
	for _, c := range cands {
		if !c.Unsettled {
			out = append(out, c)
		}
	}
	return out
}

// appendFormat1 writes one entry as a format 1 line and syncs it.
func (j *journal) appendFormat1(e Entry) error {
	e.Time = j.now().UTC()
	e.Run = j.run
	if err := j.writeLine(format1Of(e)); err != nil {
		return err
	}
	j.add(e)
	return nil
}
