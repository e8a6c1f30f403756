package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"user+=,.@_-", "user+=,.@_-"},
		{"", ""},
		{"a b", "a b"},
		{"clear\x1b[2Jscreen", `clear\x1b[2Jscreen`},
		{"nul\x00", `nul\x00`},
		{"line\nbreak\r\ttab", `line\nbreak\r\ttab`},
		{"del\x7f", `del\x7f`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"bom\ufeff", `bom\ufeff`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"nbsp\u00a0", `nbsp\u00a0`},
		{"héllo 世界", "héllo 世界"},
		{"emoji 🙂", "emoji 🙂"},
		{`back\slash`, `back\slash`},
	}
	for _, tc := range tests {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Bytes([]byte(tc.in)); got != tc.want {
			t.Errorf("Bytes(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if Safe(tc.in) != (tc.in == tc.want) {
			t.Errorf("Safe(%q) = %v", tc.in, Safe(tc.in))
		}
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"this is longer than ten", 10, "this is lo..."},
		{"\x1b[2J\x1b[2J", 4, `\x1b[2J...`},
		{"世界世界世界", 2, "世界..."},
		{"x", 0, "x"},
	}
	for _, tc := range tests {
		if got := Excerpt(tc.in, tc.max); got != tc.want {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
	if got := Quote(strings.Repeat("a", 1000)); len(got) != DefaultExcerpt+5 {
		t.Errorf("Quote of 1000 bytes is %d bytes long: %q", len(got), got)
	}
	if got := Quote(`say "hi"`); got != `"say \"hi\""` {
		t.Errorf("Quote = %s", got)
	}
}

// The output never holds a byte that acts on a terminal, whatever the input.
func FuzzString(f *testing.F) {
	for _, s := range []string{"alice", "\x1b]0;title\x07", "\x00\xff\xfe", "\u202e\u2066", "\r\n", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfeff || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("String(%q) = %q holds %U", s, out, r)
			}
		}
		if String(out) != out {
			t.Fatalf("String is not idempotent on %q", out)
		}
		if ex := Excerpt(s, 8); len(ex) > 8*10+3 {
			t.Fatalf("Excerpt(%q, 8) = %q: too long", s, ex)
		}
	})
}

func TestPlace(t *testing.T) {
	tests := []struct {
		name         string
		line, column int
		want         string
	}{
		{"plan.json", 3, 14, "plan.json:3:14"},
		{"plan.json", 3, 0, "plan.json:3"},
		{"plan.json", 0, 5, "plan.json"},
		{"stdin", 0, 0, "stdin"},
		{"a\x1b[2Jb.csv", 1, 1, `a\x1b[2Jb.csv:1:1`},
	}
	for _, tt := range tests {
		if got := Place(tt.name, tt.line, tt.column); got != tt.want {
			t.Errorf("Place(%q, %d, %d) = %q, want %q", tt.name, tt.line, tt.column, got, tt.want)
		}
	}
}
