// Package termsafe makes data safe to show on a terminal. User names, paths, reasons and
// excerpts of input come from files and from AWS; printed raw, an ESC sequence in one can clear
// the screen or hide a line of a plan at a prompt. Every text output shows such data through
// String (or Excerpt), never raw.
package termsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with everything that is not printable text shown escaped: C0 controls
// (NUL, ESC, CR, LF, tab, ...) and DEL as \xNN or their Go escape (\n, \t, \r), invalid UTF-8
// bytes as \xNN, and non-printing runes (C1 controls, bidirectional overrides, zero-width and
// other format characters, a BOM, non-ASCII spaces) as \uNNNN. Printable text, ASCII space
// included, is unchanged; so is a backslash, so the result is for reading, not for parsing.
func String(s string) string {
	if safeASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		writeRune(&b, r, size, s[i])
		i += size
	}
	return b.String()
}

// Bytes is String for a byte slice.
func Bytes(p []byte) string { return String(string(p)) }

// Excerpt returns at most max runes of s, escaped as String does, with "..." appended when it
// was cut: error messages quote bad values this way so a huge value never floods stderr.
func Excerpt(s string, max int) string {
	if max <= 0 {
		max = 1
	}
	n := 0
	for i := range s {
		if n == max {
			return String(s[:i]) + "..."
		}
		n++
	}
	return String(s)
}

// DefaultExcerpt is the length, in runes, that Quote keeps.
const DefaultExcerpt = 40

// Quote returns a short excerpt of s in double quotes, for error messages: at most
// DefaultExcerpt runes, escaped. A double quote inside is escaped too so the excerpt's end is
// clear.
func Quote(s string) string {
	return `"` + strings.ReplaceAll(Excerpt(s, DefaultExcerpt), `"`, `\"`) + `"`
}

func safeASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func writeRune(b *strings.Builder, r rune, size int, first byte) {
	switch {
	case r == utf8.RuneError && size == 1:
		b.WriteString(`\x`)
		b.WriteString(hex2(first))
	case r < 0x20 || r == 0x7f:
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		}
	case r == ' ' || (r < utf8.RuneSelf) || unicode.IsPrint(r):
		b.WriteRune(r)
	default:
		q := strconv.QuoteRuneToASCII(r) // '\u202e' or '\U0001f...'
		b.WriteString(q[1 : len(q)-1])
	}
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// Safe reports whether s would be shown unchanged by String.
func Safe(s string) bool { return String(s) == s }

// Check returns the byte offset and a description of the first thing in s that is not
// printable text (a control character, ESC, NUL, DEL, invalid UTF-8, a byte order mark, a
// bidirectional or other format character), or "" when there is none. Inputs refuse names
// that fail it: IAM names are printable text, so such a name is damage or an attack.
func Check(s string) (int, string) {
	for i, r := range s {
		size := utf8.RuneLen(r)
		switch {
		case r == utf8.RuneError && (i+3 > len(s) || s[i:i+3] != "\uFFFD"):
			return i, "invalid UTF-8"
		case r == 0:
			return i, "a NUL byte"
		case r == 0xfeff:
			return i, "a byte order mark"
		case size > 0 && !Safe(s[i:i+size]):
			return i, "a control or format character (" + String(s[i:i+size]) + ")"
		}
	}
	return 0, ""
}

// Place is where a fault is in a file, the way compilers and editors write it: name:line:column,
// name:line when the column is unknown (0), name alone when the line is too; the name escaped as
// String does. Every message that points into an input file names the place through it.
func Place(name string, line, column int) string {
	s := String(name)
	if line > 0 {
		s += ":" + strconv.Itoa(line)
		if column > 0 {
			s += ":" + strconv.Itoa(column)
		}
	}
	return s
}
