package strictjson

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type inner struct {
	User string `json:"user"`
}

type doc struct {
	Name    string     `json:"name"`
	Count   int        `json:"count"`
	When    time.Time  `json:"when"`
	Maybe   *string    `json:"maybe"`
	Items   []inner    `json:"items"`
	Omitted string     `json:"omitted,omitempty"`
	Ptr     *time.Time `json:"ptr,omitempty"`
}

func TestUnmarshalAccepts(t *testing.T) {
	in := `{"name":"a","count":2,"when":"2024-01-02T03:04:05Z","maybe":null,"items":[{"user":"bob"}]}`
	var d doc
	if err := Unmarshal("f.json", []byte(in), &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "a" || d.Count != 2 || d.Maybe != nil || len(d.Items) != 1 || d.Items[0].User != "bob" || d.When.Year() != 2024 {
		t.Fatalf("decoded %+v", d)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	tests := []struct {
		name, in  string
		kind      error
		line, col int
		msg       string // a part of the message
	}{
		{"duplicate", `{"name":"a","name":"b"}`, ErrDuplicate, 1, 13, `field "name" appears twice`},
		{"duplicate nested", "{\"items\":[\n{\"user\":\"a\",\n\"user\":\"b\"}]}", ErrDuplicate, 3, 1, `field "user" appears twice in the same object at /items/0`},
		{"case variant", `{"Name":"a"}`, ErrUnknownField, 1, 2, `unknown field "Name"`},
		{"case variant after exact", `{"name":"a","NAME":"b"}`, ErrUnknownField, 1, 13, `unknown field "NAME"`},
		{"unknown", `{"nmae":"a"}`, ErrUnknownField, 1, 2, `unknown field "nmae"`},
		{"unknown nested", "{\"items\":[{\"usr\":1}]}", ErrUnknownField, 1, 12, `unknown field "usr" (field names are exact, case included) at /items/0`},
		{"wrong type", `{"count":"two"}`, ErrType, 1, 10, `cannot use a JSON string "\"two\"" (want an integer) at /count`},
		{"bad time", `{"when":"yesterday"}`, ErrType, 1, 9, `(want an RFC 3339 time)`},
		{"truncated", "{\"name\":\n\"a\"", ErrSyntax, 2, 4, "truncated JSON"},
		{"empty", "  \n", ErrSyntax, 1, 1, "empty"},
		{"trailing", `{"name":"a"} {}`, ErrSyntax, 1, 14, `more than one JSON value: text after the first near "{}"`},
		{"trailing bracket", `{"name":"a"}]`, ErrSyntax, 1, 13, "more than one JSON value"},
		{"invalid utf8", "{\"name\":\"a\xff\"}", ErrSyntax, 1, 11, `invalid UTF-8`},
		{"control char", "{\"name\":\"a\x1b[2J\"}", ErrSyntax, 1, 11, `\x1b[2J`},
		{"bom", "\ufeff{}", ErrSyntax, 1, 1, "invalid JSON"},
		{"not json", "user,arn\n", ErrSyntax, 1, 1, "invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			err := Unmarshal("plan.json", []byte(tc.in), &d)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("err = %v, want kind %v", err, tc.kind)
			}
			if e.Line != tc.line || e.Column != tc.col {
				t.Errorf("at %d:%d, want %d:%d (%v)", e.Line, e.Column, tc.line, tc.col, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "plan.json:") {
				t.Errorf("err = %q does not name the file", err)
			}
			if strings.ContainsAny(err.Error(), "\x1b\x00\n\r") {
				t.Errorf("err holds a control character: %q", err)
			}
		})
	}
}

func TestUnmarshalAtCountsLines(t *testing.T) {
	var d doc
	err := UnmarshalAt("journal", 41, []byte(`{"name":1}`), &d)
	var e *Error
	if !errors.As(err, &e) || e.Line != 41 || e.Column != 9 || !strings.HasPrefix(err.Error(), "journal:41:9: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestExcerptIsShort(t *testing.T) {
	huge := `{"count":"` + strings.Repeat("\x1bX", 1<<20) + `"}`
	var d doc
	err := Unmarshal("big", []byte(huge), &d)
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error is %d bytes long", len(err.Error()))
	}
	bigName := `{"` + strings.Repeat("k", 1<<20) + `":1}`
	err = Unmarshal("big", []byte(bigName), &d)
	if !errors.Is(err, ErrUnknownField) || len(err.Error()) > 400 {
		t.Fatalf("error is %d bytes long: %.200v", len(err.Error()), err)
	}
}

func TestReadLimit(t *testing.T) {
	var d doc
	in := `{"name":"` + strings.Repeat("a", 100) + `"}`
	if err := Read(strings.NewReader(in), "f", 50, &d); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than the 50 bytes limit") {
		t.Fatalf("err = %v", err)
	}
	if err := Read(strings.NewReader(in), "f", int64(len(in)), &d); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	if _, err := ReadAll(iotest.ErrReader(errors.New("disk on fire")), "f", 10); !errors.Is(err, ErrRead) {
		t.Fatalf("err = %v", err)
	}
	if got := TooLarge("p", 64<<20).Error(); got != "p: larger than the 64 MiB limit: refused unread" {
		t.Fatalf("got %q", got)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64 MiB", 512 << 10: "512 KiB", 100: "100 bytes", 1500: "1500 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","count":2,"when":"2024-01-02T03:04:05Z","maybe":null,"items":[{"user":"bob"}]}`,
		`{"name":"a","name":"b"}`, `{"Name":1}`, "{\"name\":\"\x1b\"}", `{"items":[{"user":"a","user":"b"}]}`,
		"{\"name\":\"\xff\"}", `{"count":1e400}`, `[]`, `{"ptr":null}`, "",
		"\ufeff{\"name\":\"a\"}", "{\"name\":\"a\u0000\"}", `{"name":"a\u0000"}`, `{"name":"\ud800"}`,
		`{"name":"` + strings.Repeat("a", 70000) + `"}`, `{"name":"a"} {"name":"b"}`, "{\"name\":\"a\"}\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		err := UnmarshalAt("fuzz", 3, data, &d)
		if err == nil {
			// What was accepted must have had no duplicate or case-variant names: re-decoding
			// with a lenient decoder over a map and counting keys is what the library checks;
			// here at least the input must be valid UTF-8.
			if !bytes.Equal(bytes.ToValidUTF8(data, nil), data) {
				t.Fatalf("accepted invalid UTF-8: %q", data)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind == nil {
			t.Fatalf("error %v is not a typed *Error", err)
		}
		msg := err.Error()
		if len(msg) > 600 {
			t.Fatalf("message is %d bytes long", len(msg))
		}
		if strings.ContainsAny(msg, "\x00\x1b\n\r\x7f") || !bytes.Equal(bytes.ToValidUTF8([]byte(msg), nil), []byte(msg)) {
			t.Fatalf("message is not terminal-safe: %q", msg)
		}
		if e.Line != 0 && (e.Line < 3 || e.Column < 1) {
			t.Fatalf("position %d:%d", e.Line, e.Column)
		}
	})
}
