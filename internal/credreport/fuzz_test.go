package credreport

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// FuzzReader: any input either reads cleanly or fails with a located *Error, never a panic, and
// what it yields is well formed. Seeds live in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	recorded, err := os.ReadFile("testdata/recorded-2016.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(recorded)
	f.Add([]byte(header + "\n" + aliceRow + "\n"))
	f.Add([]byte(cliJSON(header + "\n" + aliceRow + "\n")))
	f.Add([]byte(base64.StdEncoding.EncodeToString([]byte(header + "\n" + aliceRow + "\n"))))
	f.Add([]byte("\ufeff" + strings.ReplaceAll(header+"\n"+aliceRow, "\n", "\r\n")))
	// The limit cases: names with control characters, NUL, invalid UTF-8 or a BOM mid-file,
	// fields after the last column, bare-CR line ends, a long line, and in the CLI's JSON a
	// repeated or case-variant Content (a second Content must not hide the first).
	for _, row := range []string{
		strings.Replace(aliceRow, "alice,", "al\x1b[2Jice,", 1),
		strings.Replace(aliceRow, "alice,", "al\x00ice,", 1),
		strings.Replace(aliceRow, "alice,", "al\xffice,", 1),
		strings.Replace(aliceRow, "alice,", "\ufeffalice,", 1),
		strings.Replace(aliceRow, "alice,", "al\u202eice,", 1),
		aliceRow + ",extra",
		strings.Replace(aliceRow, "alice,", strings.Repeat("a", 70000)+",", 1),
	} {
		f.Add([]byte(header + "\n" + row + "\n"))
	}
	f.Add([]byte(header + "\r" + aliceRow + "\r"))
	f.Add([]byte(header + "\n" + aliceRow + "\n\ufeff" + aliceRow + "\n"))
	twice := strings.Replace(cliJSON(header+"\n"+aliceRow+"\n"), `"ReportFormat"`, `"Content": "`+base64.StdEncoding.EncodeToString([]byte(header+"\n"))+`", "ReportFormat"`, 1)
	f.Add([]byte(twice))
	f.Add([]byte(strings.Replace(cliJSON(header+"\n"+aliceRow+"\n"), `"Content"`, `"content"`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			assertLocated(t, err)
			return
		}
		for i := 0; ; i++ {
			u, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				assertLocated(t, err)
				return
			}
			if u.Name == "" || !strings.HasPrefix(u.ARN, "arn:") || u.Created.IsZero() || u.Line < 2 {
				t.Fatalf("malformed user accepted: %+v", u)
			}
			if len(u.Keys) > 2 {
				t.Fatalf("%d keys", len(u.Keys))
			}
			for _, k := range u.Keys {
				if k.Created.IsZero() || (k.Slot != 1 && k.Slot != 2) {
					t.Fatalf("malformed key accepted: %+v", k)
				}
			}
		}
	})
}

func assertLocated(t *testing.T, err error) {
	t.Helper()
	var perr *Error
	if !errors.As(err, &perr) || perr.File != "fuzz.csv" {
		t.Fatalf("error is not located in the file: %T %v", err, err)
	}
}
