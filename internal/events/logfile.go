package events

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// FileError is a log file that cannot be read: bad JSON, a record the tool cannot read, a
// truncated gzip. Line and Column point into the (decompressed) file when known (0 otherwise).
type FileError struct {
	File   string
	Line   int
	Column int
	// Record is the index of the record being read, -1 outside Records.
	Record int
	Err    error
}

func (e *FileError) Error() string {
	where := termsafe.Place(e.File, e.Line, e.Column)
	if e.Record >= 0 {
		where += fmt.Sprintf(": record %d", e.Record)
	}
	return where + ": " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// maxRecordBytes bounds one record. CloudTrail records are a few KB; a bigger one is not a
// CloudTrail record, and reading it whole would let one file take the memory.
const maxRecordBytes = 1 << 20

// readLog streams the records of one CloudTrail log file (`{"Records":[...]}`, gzipped or not:
// told by its first bytes, not its name) and hands each record the state machine needs to fn.
// On a bad file the error is a *FileError whose offset locate turns into a line and column.
func readLog(r io.Reader, name string, fn func(Event) error) (offset int64, err error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return -1, &FileError{File: name, Record: -1, Err: fmt.Errorf("gzip: %w", err)}
		}
		defer zr.Close()
		src = zr
	}
	// jsontext reads the file token by token (memory flat in its size), refuses duplicate names
	// and invalid UTF-8, and reports exact byte offsets.
	dec := jsontext.NewDecoder(src)
	record := -1
	fail := func(err error) (int64, error) {
		off := dec.InputOffset()
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			off = se.ByteOffset
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
			err = fmt.Errorf("truncated or damaged file: %w", err)
			off = -1
		}
		return off, &FileError{File: name, Record: record, Err: err}
	}
	expect := func(want jsontext.Kind) error {
		tok, err := dec.ReadToken()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if tok.Kind() != want {
			return fmt.Errorf("want %v, found %v", want, tok.Kind())
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return fail(fmt.Errorf("not a CloudTrail log file ({\"Records\":[...]}): %w", err))
	}
	seenRecords := false
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return fail(err)
		}
		if key := tok.String(); key != "Records" {
			return fail(fmt.Errorf("unknown key %q: a CloudTrail log file holds only \"Records\"", key))
		}
		seenRecords = true
		if err := expect('['); err != nil {
			return fail(fmt.Errorf("Records: %w", err))
		}
		for dec.PeekKind() != ']' && dec.PeekKind() != 0 {
			record++
			start := dec.InputOffset()
			raw, err := dec.ReadValue()
			if err != nil {
				return fail(err)
			}
			if len(raw) > maxRecordBytes {
				return fail(fmt.Errorf("record of %d bytes exceeds the %d-byte limit", len(raw), maxRecordBytes))
			}
			ev, keep, err := ParseRecord(raw, Position{File: name, Record: record})
			if err != nil {
				var re *RecordError
				if errors.As(err, &re) {
					err = re.Err
				}
				off := start + leadingSpace(raw)
				if p, ok := errorOffset(err); ok {
					off += p
				}
				return off, &FileError{File: name, Record: record, Err: err}
			}
			if !keep {
				continue
			}
			if err := fn(ev); err != nil {
				return -1, err
			}
		}
		if err := expect(']'); err != nil {
			return fail(err)
		}
		record = -1
	}
	if err := expect('}'); err != nil {
		return fail(err)
	}
	if !seenRecords {
		return fail(errors.New(`no "Records" key: not a CloudTrail log file`))
	}
	// Read to the end: trailing data is an error, and gzip checks its checksum only there.
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the log object")
		}
		return fail(err)
	}
	return 0, nil
}

// leadingSpace counts the white space Decode skipped before a record, so an offset points at the
// record itself.
func leadingSpace(raw []byte) int64 {
	return int64(len(raw) - len(bytes.TrimLeft(raw, " \t\r\n")))
}

// errorOffset is the byte offset inside a record that a decoding error names, if it names one.
func errorOffset(err error) (int64, bool) {
	var v2syn *jsontext.SyntacticError
	if errors.As(err, &v2syn) {
		return v2syn.ByteOffset, true
	}
	var v2sem *jsonv2.SemanticError
	if errors.As(err, &v2sem) {
		return v2sem.ByteOffset, true
	}
	return 0, false
}

// locate turns a byte offset of the decompressed file into a 1-based line and column by reading
// the file again: only a failing file pays for it, and memory stays flat.
func locate(r io.Reader, offset int64) (line, col int, err error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, 0, err
		}
		src = zr
	}
	line, col = 1, 1
	buf := bufio.NewReader(io.LimitReader(src, offset))
	for {
		b, err := buf.ReadByte()
		if errors.Is(err, io.EOF) {
			return line, col, nil
		}
		if err != nil {
			return line, col, err
		}
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
}
