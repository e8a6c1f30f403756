// Package credreport reads IAM credential reports in the forms people have them: the decoded CSV,
// the JSON that `aws iam get-credential-report` prints (Content in base64), or the bare base64.
// It streams: one user at a time, so memory stays flat in the number of users.
package credreport

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/strictjson"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// Column names of the credential report that the audit needs. Others are tolerated and ignored.
const (
	colUser            = "user"
	colARN             = "arn"
	colUserCreation    = "user_creation_time"
	colPasswordEnabled = "password_enabled"
)

func keyColumn(slot int, field string) string { return fmt.Sprintf("access_key_%d_%s", slot, field) }

var requiredColumns = func() []string {
	cols := []string{colUser, colARN, colUserCreation, colPasswordEnabled}
	for slot := 1; slot <= 2; slot++ {
		for _, f := range []string{"active", "last_rotated", "last_used_date", "last_used_region", "last_used_service"} {
			cols = append(cols, keyColumn(slot, f))
		}
	}
	return cols
}()

// rootUser is the name the credential report gives the account's root user.
const rootUser = "<root_account>"

// Error is a problem with the input, named by place: the file, the line and the column when known.
type Error struct {
	File string
	Line int
	// Col is the 1-based byte column within the line, 0 when unknown.
	Col int
	// Column is the report column's name, when the fault is in one.
	Column string
	Err    error
}

func (e *Error) Error() string {
	where := termsafe.Place(e.File, e.Line, e.Col)
	if e.Column != "" {
		where += ": column " + e.Column
	}
	return where + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Format is the shape the input arrived in.
type Format string

const (
	FormatCSV    Format = "csv"
	FormatJSON   Format = "json"
	FormatBase64 Format = "base64"
)

// Reader yields the users of one credential report.
type Reader struct {
	name      string
	format    Format
	csv       *csv.Reader
	columns   int
	cols      columnIndex
	generated *time.Time
}

// columnIndex holds where each needed column sits, resolved once from the header.
type columnIndex struct {
	user, arn, userCreation, passwordEnabled int
	keys                                     [2]keyColumns
}

type keyColumns struct {
	active, lastRotated, lastUsedDate, lastUsedRegion, lastUsedService int
	// names for error messages
	activeName, lastRotatedName, lastUsedDateName string
}

// cliOutput is the JSON that `aws iam get-credential-report` prints.
type cliOutput struct {
	Content       *string `json:"Content"`
	ReportFormat  string  `json:"ReportFormat"`
	GeneratedTime string  `json:"GeneratedTime"`
}

// NewReader detects the input's format, reads the header and returns a Reader positioned at the
// first user. name is used in error messages ("-" reads as "stdin").
func NewReader(r io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(&sizeLimit{r: r, left: MaxReportSize}, 64*1024)
	if err := skipBOMAndSpace(br); err != nil {
		return nil, &Error{File: name, Err: fmt.Errorf("reading: %w", err)}
	}
	head, err := br.Peek(4096)
	if len(head) == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Err: fmt.Errorf("reading: %w", err)}
		}
		return nil, &Error{File: name, Err: errors.New("empty input: expected a credential report (CSV, JSON from `aws iam get-credential-report`, or base64)")}
	}
	rd := &Reader{name: name}
	var body io.Reader
	switch {
	case head[0] == '{':
		rd.format = FormatJSON
		body, err = rd.openJSON(br)
		if err != nil {
			return nil, err
		}
	case looksLikeCSV(head):
		rd.format = FormatCSV
		body = br
	default:
		rd.format = FormatBase64
		body = base64.NewDecoder(base64.StdEncoding, &spaceDropper{r: br})
	}
	if err := rd.openCSV(body); err != nil {
		return nil, err
	}
	return rd, nil
}

// MaxJSONSize is the largest `aws iam get-credential-report` JSON read: a report of 5,000
// users is under 3 MiB in base64.
const MaxJSONSize = 64 << 20

func (rd *Reader) openJSON(r io.Reader) (io.Reader, error) {
	var out cliOutput
	// Strict: a second "Content" (or a "content") must not hide the report's failing keys.
	if err := strictjson.Read(r, rd.name, MaxJSONSize, &out); err != nil {
		return nil, jsonError(rd.name, err)
	}
	if out.Content == nil {
		return nil, &Error{File: rd.name, Column: "Content", Err: errors.New("JSON has no Content field: expected the output of `aws iam get-credential-report`")}
	}
	if out.ReportFormat != "" && !strings.EqualFold(out.ReportFormat, "text/csv") {
		return nil, &Error{File: rd.name, Column: "ReportFormat", Err: fmt.Errorf("unsupported report format %s (want text/csv)", termsafe.Quote(out.ReportFormat))}
	}
	if out.GeneratedTime != "" {
		t, err := parseTime(out.GeneratedTime)
		if err != nil {
			return nil, &Error{File: rd.name, Column: "GeneratedTime", Err: err}
		}
		rd.generated = &t
	}
	content, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(*out.Content), ""))
	if err != nil {
		return nil, &Error{File: rd.name, Column: "Content", Err: fmt.Errorf("Content is not valid base64: %v", err)}
	}
	content = bytes.TrimPrefix(content, []byte("\ufeff"))
	return bytes.NewReader(content), nil
}

// jsonError turns a strictjson error into an *Error naming the same place.
func jsonError(name string, err error) error {
	var se *strictjson.Error
	if !errors.As(err, &se) {
		return &Error{File: name, Err: err}
	}
	return &Error{File: name, Line: se.Line, Col: se.Column, Err: jsonMsg{se}}
}

// jsonMsg is a strictjson error without its place, which Error prints.
type jsonMsg struct{ e *strictjson.Error }

func (m jsonMsg) Error() string { return m.e.Msg }
func (m jsonMsg) Unwrap() error { return m.e }

func (rd *Reader) openCSV(body io.Reader) error {
	cr := csv.NewReader(&bomStripper{r: body})
	cr.FieldsPerRecord = -1 // checked per row, to name the line in our own words
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{File: rd.name, Line: 1, Err: errors.New("no header row: the report is empty")}
		}
		return rd.wrapRead(err)
	}
	for _, h := range header {
		if strings.ContainsRune(h, '\r') {
			return &Error{File: rd.name, Line: 1, Err: errors.New("lines end in a bare CR (carriage return only): save the report with LF or CRLF line ends")}
		}
	}
	index := make(map[string]int, len(header))
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if _, dup := index[name]; dup {
			return &Error{File: rd.name, Line: 1, Column: name, Err: errors.New("column appears twice in the header")}
		}
		index[name] = i
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := index[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &Error{File: rd.name, Line: 1, Err: fmt.Errorf("not a credential report: header lacks %s", strings.Join(missing, ", "))}
	}
	rd.columns = len(header)
	rd.cols = columnIndex{user: index[colUser], arn: index[colARN], userCreation: index[colUserCreation], passwordEnabled: index[colPasswordEnabled]}
	for slot := 1; slot <= 2; slot++ {
		rd.cols.keys[slot-1] = keyColumns{
			active: index[keyColumn(slot, "active")], lastRotated: index[keyColumn(slot, "last_rotated")],
			lastUsedDate: index[keyColumn(slot, "last_used_date")], lastUsedRegion: index[keyColumn(slot, "last_used_region")],
			lastUsedService: index[keyColumn(slot, "last_used_service")],
			activeName:      keyColumn(slot, "active"), lastRotatedName: keyColumn(slot, "last_rotated"), lastUsedDateName: keyColumn(slot, "last_used_date"),
		}
	}
	rd.csv = cr
	return nil
}

// MaxReportSize is the largest report read: a credential report of IAM's 5,000 users is under
// 3 MiB; past this limit the input is not one.
const MaxReportSize = 256 << 20

// sizeLimit reads at most left bytes and then fails, so a huge input (or /dev/zero) ends in a
// clear error instead of eating memory.
type sizeLimit struct {
	r    io.Reader
	left int64
}

// errTooLarge is the error past MaxReportSize.
var errTooLarge = fmt.Errorf("larger than the %s limit of a credential report", strictjson.Size(MaxReportSize))

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Format reports which form the input was in.
func (rd *Reader) Format() Format { return rd.format }

// GeneratedTime is the report's generation time when the input carried it (the CLI's JSON).
func (rd *Reader) GeneratedTime() *time.Time { return rd.generated }

// Next returns the next user, or io.EOF after the last one. A bad row ends the read with an
// *Error naming its line and column.
func (rd *Reader) Next() (setupkeys.User, error) {
	var rec []string
	var line int
	for {
		var err error
		rec, err = rd.csv.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return setupkeys.User{}, io.EOF
			}
			return setupkeys.User{}, rd.wrapRead(err)
		}
		line, _ = rd.csv.FieldPos(0)
		if len(rec) != 1 || strings.TrimSpace(rec[0]) != "" {
			break
		}
		// A line of blanks only: tolerate it and read on.
	}
	if len(rec) < rd.columns {
		return setupkeys.User{}, &Error{File: rd.name, Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", len(rec), rd.columns)}
	}
	if len(rec) > rd.columns {
		l, col := rd.csv.FieldPos(rd.columns)
		return setupkeys.User{}, &Error{File: rd.name, Line: l, Col: col, Err: fmt.Errorf("row has %d fields, the header has %d: extra fields after the last column", len(rec), rd.columns)}
	}
	for _, i := range []int{rd.cols.user, rd.cols.arn} {
		if at, what := termsafe.Check(rec[i]); what != "" {
			l, col := rd.csv.FieldPos(i)
			name := colUser
			if i == rd.cols.arn {
				name = colARN
			}
			return setupkeys.User{}, &Error{File: rd.name, Line: l, Col: col + at, Column: name, Err: fmt.Errorf("%s in %s: refused (IAM names are printable text)", what, termsafe.Quote(rec[i]))}
		}
	}
	p := rowParser{rd: rd, rec: rec, line: line}
	c := &rd.cols
	u := setupkeys.User{
		Name: p.str(c.user),
		ARN:  p.str(c.arn),
		Line: line,
	}
	u.IsRoot = u.Name == rootUser
	u.AccountID = setupkeys.AccountFromARN(u.ARN)
	if p.err == nil && u.Name == "" {
		p.fail(colUser, errors.New("empty user name"))
	}
	if p.err == nil && !strings.HasPrefix(u.ARN, "arn:") {
		p.fail(colARN, fmt.Errorf("%s is not an ARN", termsafe.Quote(u.ARN)))
	}
	u.Created = p.requiredTime(c.userCreation, colUserCreation)
	if !u.IsRoot {
		u.PasswordEnabled = p.boolean(c.passwordEnabled, colPasswordEnabled)
		for slot := 1; slot <= 2; slot++ {
			if k, ok := p.key(slot, &c.keys[slot-1]); ok {
				u.Keys = append(u.Keys, k)
			}
		}
	}
	if p.err != nil {
		return setupkeys.User{}, p.err
	}
	return u, nil
}

func (rd *Reader) wrapRead(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: rd.name, Line: pe.StartLine, Err: fmt.Errorf("malformed CSV: %v", pe.Err)}
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return &Error{File: rd.name, Err: fmt.Errorf("not a credential report: neither CSV, JSON nor valid base64 (bad base64 at byte %d)", int64(ce))}
	}
	if rd.format == FormatBase64 && errors.Is(err, io.ErrUnexpectedEOF) {
		// What is neither CSV nor JSON is read as base64; text that ends mid-group is not a report.
		return &Error{File: rd.name, Err: errors.New("not a credential report: neither CSV, JSON nor complete base64")}
	}
	return &Error{File: rd.name, Err: fmt.Errorf("reading: %w", err)}
}

// rowParser reads typed fields out of one record and keeps the first error.
type rowParser struct {
	rd   *Reader
	rec  []string
	line int
	err  error
}

func (p *rowParser) fail(col string, err error) {
	if p.err == nil {
		p.err = &Error{File: p.rd.name, Line: p.line, Column: col, Err: err}
	}
}

func (p *rowParser) str(i int) string { return strings.TrimSpace(p.rec[i]) }

func (p *rowParser) requiredTime(i int, col string) time.Time {
	t, err := parseTime(p.str(i))
	if err != nil {
		p.fail(col, err)
	}
	return t
}

// optionalTime reads a time that may be N/A (or another of the report's "no value" words).
func (p *rowParser) optionalTime(i int, col string) time.Time {
	v := p.str(i)
	if isNoValue(v) {
		return time.Time{}
	}
	t, err := parseTime(v)
	if err != nil {
		p.fail(col, err)
	}
	return t
}

func (p *rowParser) boolean(i int, col string) bool {
	v := p.str(i)
	switch {
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"), strings.EqualFold(v, "not_supported"):
		return false
	}
	p.fail(col, fmt.Errorf("%s is not true or false", termsafe.Quote(v)))
	return false
}

func (p *rowParser) key(slot int, c *keyColumns) (setupkeys.AccessKey, bool) {
	k := setupkeys.AccessKey{
		Slot:            slot,
		Active:          p.boolean(c.active, c.activeName),
		Created:         p.optionalTime(c.lastRotated, c.lastRotatedName),
		LastUsed:        p.optionalTime(c.lastUsedDate, c.lastUsedDateName),
		LastUsedRegion:  valueOrEmpty(p.str(c.lastUsedRegion)),
		LastUsedService: valueOrEmpty(p.str(c.lastUsedService)),
	}
	if k.Created.IsZero() {
		if k.Active {
			p.fail(c.lastRotatedName, errors.New("the key is active but has no creation date (N/A)"))
		}
		return k, false
	}
	return k, true
}

// isNoValue reports the credential report's words for "nothing here".
func isNoValue(v string) bool {
	return v == "" || strings.EqualFold(v, "N/A") || strings.EqualFold(v, "not_supported") || strings.EqualFold(v, "no_information")
}

func valueOrEmpty(v string) string {
	if isNoValue(v) {
		return ""
	}
	return v
}

// timeLayouts are the forms the report's times take: AWS writes +00:00, other tools write Z, and
// some drop the seconds' fraction or add one.
var timeLayouts = []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05"}

func parseTime(v string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	if isNoValue(v) {
		return time.Time{}, fmt.Errorf("%s where a time is required", termsafe.Quote(v))
	}
	return time.Time{}, fmt.Errorf("%s is not an ISO 8601 time like 2016-11-25T09:37:34+00:00", termsafe.Quote(v))
}

// looksLikeCSV: base64 never holds a comma, and a report's header line always does.
func looksLikeCSV(head []byte) bool {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	return bytes.IndexByte(head, ',') >= 0
}

func skipBOMAndSpace(br *bufio.Reader) error {
	for {
		r, _, err := br.ReadRune()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if r != '\ufeff' && r != ' ' && r != '\t' && r != '\r' && r != '\n' {
			return br.UnreadRune()
		}
	}
}

// bomStripper drops a UTF-8 byte order mark at the start of decoded content.
type bomStripper struct {
	r       io.Reader
	checked bool
	pending []byte
}

func (b *bomStripper) Read(p []byte) (int, error) {
	if !b.checked {
		b.checked = true
		head := make([]byte, 3)
		n, err := io.ReadFull(b.r, head)
		head = head[:n]
		if !bytes.Equal(head, []byte("\ufeff")) {
			b.pending = head
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return 0, err
		}
	}
	if len(b.pending) > 0 {
		n := copy(p, b.pending)
		b.pending = b.pending[n:]
		return n, nil
	}
	return b.r.Read(p)
}

// spaceDropper drops whitespace so wrapped base64 (76-column lines, CRLF) decodes.
type spaceDropper struct{ r io.Reader }

func (s *spaceDropper) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
