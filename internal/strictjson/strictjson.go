// Package strictjson decodes the JSON that setupkeys acts on (plans, journal lines, the
// credential report JSON of `aws iam get-credential-report`) strictly: field names match
// exactly (no case-insensitive matching), a duplicate name is refused (a second "Content" must
// not hide the first), an unknown field is refused, invalid UTF-8 is refused, exactly one value
// is read, and input over a size limit is refused before it is parsed. Errors name the place as
// file:line:column and quote at most a short, terminal-safe excerpt of the bad value.
//
// It is a thin layer over github.com/go-json-experiment/json, the JSON v2 implementation that
// Go 1.26 ships only behind GOEXPERIMENT=jsonv2: its defaults already reject duplicate names
// and invalid UTF-8 and match names case-sensitively; this package adds RejectUnknownMembers,
// the size limit and the messages.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// Kinds of error, for errors.Is. Every error returned is an *Error wrapping one of them.
var (
	// ErrTooLarge: the input is over the caller's size limit.
	ErrTooLarge = errors.New("too large")
	// ErrSyntax: not JSON, truncated JSON, or text after the value.
	ErrSyntax = errors.New("invalid JSON")
	// ErrDuplicate: an object names the same field twice.
	ErrDuplicate = errors.New("duplicate field")
	// ErrUnknownField: a field the format does not have (a misspelt or case-variant name).
	ErrUnknownField = errors.New("unknown field")
	// ErrType: a value of the wrong type or out of range.
	ErrType = errors.New("wrong type")
	// ErrRead: reading the input failed.
	ErrRead = errors.New("read error")
)

// Error is a problem with a JSON input, named by place.
type Error struct {
	// Name is the file name ("stdin" for -).
	Name string
	// Line and Column are 1-based; Column counts bytes. 0 when unknown.
	Line, Column int
	// Field is the JSON pointer of the value at fault ("/actions/0/user"), when known.
	Field string
	// Msg says what is wrong, with a short escaped excerpt.
	Msg string
	// Kind is one of the Err values above.
	Kind error
	// Err is the underlying error, when any.
	Err error
}

func (e *Error) Error() string {
	return termsafe.Place(e.Name, e.Line, e.Column) + ": " + e.Msg
}

// Is matches the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

var decodeOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// Unmarshal decodes data, the whole of the file name, into v.
func Unmarshal(name string, data []byte, v any) error { return UnmarshalAt(name, 1, data, v) }

// UnmarshalAt decodes data, which starts at line firstLine of the file name (one journal
// line, say), into v; positions in errors count from there.
func UnmarshalAt(name string, firstLine int, data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Name: name, Line: firstLine, Column: 1, Kind: ErrSyntax, Msg: "empty: no JSON value"}
	}
	err := json.Unmarshal(data, v, decodeOptions)
	if err == nil {
		return nil
	}
	return describe(name, firstLine, data, err)
}

// ReadAll reads r whole, refusing more than limit bytes.
func ReadAll(r io.Reader, name string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{Name: name, Kind: ErrRead, Err: err, Msg: "reading: " + termsafe.String(err.Error())}
	}
	if int64(len(data)) > limit {
		return nil, TooLarge(name, limit)
	}
	return data, nil
}

// TooLarge is the error for an input over limit bytes.
func TooLarge(name string, limit int64) error {
	return &Error{Name: name, Kind: ErrTooLarge, Msg: fmt.Sprintf("larger than the %s limit: refused unread", Size(limit))}
}

// Read reads r whole (at most limit bytes) and decodes it into v.
func Read(r io.Reader, name string, limit int64, v any) error {
	data, err := ReadAll(r, name, limit)
	if err != nil {
		return err
	}
	return Unmarshal(name, data, v)
}

// Size writes a byte count the way limits are documented: "64 MiB", "512 KiB", "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Position returns the 1-based line and byte column of offset in data, lines counted from
// firstLine.
func Position(data []byte, offset int64, firstLine int) (line, col int) {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	line = firstLine + bytes.Count(before, []byte{'\n'})
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func describe(name string, firstLine int, data []byte, err error) error {
	e := &Error{Name: name, Err: err}
	var offset int64 = -1
	var ptr jsontext.Pointer
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn):
		offset, ptr = syn.ByteOffset, syn.JSONPointer
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			e.Kind = ErrDuplicate
			e.Msg = fmt.Sprintf("field %s appears twice in the same object", quoteField(lastToken(ptr)))
			ptr = parent(ptr)
		case errors.Is(err, io.ErrUnexpectedEOF):
			e.Kind = ErrSyntax
			e.Msg = fmt.Sprintf("truncated JSON: the value does not end (%d bytes read)", len(data))
			offset = int64(len(data))
		case syn.Err != nil && strings.Contains(syn.Err.Error(), "after top-level value"):
			e.Kind = ErrSyntax
			e.Msg = "more than one JSON value: text after the first near " + termsafe.Quote(excerptAt(data, offset))
		default:
			e.Kind = ErrSyntax
			e.Msg = "invalid JSON: " + syntaxReason(syn.Err) + " near " + termsafe.Quote(excerptAt(data, offset))
		}
	case errors.As(err, &sem):
		offset, ptr = sem.ByteOffset, sem.JSONPointer
		switch {
		case errors.Is(sem.Err, json.ErrUnknownName):
			e.Kind = ErrUnknownField
			e.Msg = fmt.Sprintf("unknown field %s (field names are exact, case included)", quoteField(lastToken(ptr)))
			ptr = parent(ptr)
		default:
			e.Kind = ErrType
			what := "the value"
			if sem.JSONKind != 0 {
				what = "a JSON " + kindName(sem.JSONKind)
			}
			if v := valueAt(data, sem.ByteOffset); v != "" {
				what += " " + termsafe.Quote(v)
			}
			want := ""
			if sem.GoType != nil {
				want = " (want " + goTypeName(sem.GoType) + ")"
			}
			reason := ""
			if sem.Err != nil {
				reason = ": " + termsafe.Excerpt(sem.Err.Error(), 120)
			}
			e.Msg = fmt.Sprintf("cannot use %s%s%s", what, want, reason)
		}
	default:
		e.Kind = ErrSyntax
		e.Msg = "invalid JSON: " + termsafe.Excerpt(err.Error(), 120)
	}
	if offset >= 0 {
		e.Line, e.Column = Position(data, offset, firstLine)
	}
	if ptr != "" {
		e.Field = string(ptr)
		e.Msg += " at " + termsafe.Excerpt(string(ptr), 80)
	}
	return e
}

func lastToken(p jsontext.Pointer) string { return p.LastToken() }

func parent(p jsontext.Pointer) jsontext.Pointer {
	s := string(p)
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return jsontext.Pointer(s[:i])
	}
	return ""
}

func quoteField(s string) string { return termsafe.Quote(s) }

// excerptAt returns a few bytes of data from offset, for "near ...".
func excerptAt(data []byte, offset int64) string {
	offset = max(0, min(offset, int64(len(data))))
	end := min(int64(len(data)), offset+termsafe.DefaultExcerpt*4)
	return string(data[offset:end])
}

// valueAt returns the JSON value that starts at offset (after white space), "" when none.
func valueAt(data []byte, offset int64) string {
	if offset < 0 || offset >= int64(len(data)) {
		return ""
	}
	v, err := jsontext.NewDecoder(bytes.NewReader(data[offset:])).ReadValue()
	if err != nil {
		return ""
	}
	return string(v)
}

func syntaxReason(err error) string {
	if err == nil {
		return "malformed"
	}
	return termsafe.Excerpt(strings.TrimPrefix(err.Error(), "jsontext: "), 120)
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

func goTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}
