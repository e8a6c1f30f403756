package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/joshdk/go-junit"

	"github.com/setupkeys/setupkeys"
)

// FuzzMachineFormatsEscape: whatever a user name, account name or reason holds, SARIF and OCSF
// stay JSON that gives the value back, and JUnit stays XML a CI reader parses, with the name
// back (characters XML cannot hold become U+FFFD).
func FuzzMachineFormatsEscape(f *testing.F) {
	for _, seed := range [][3]string{
		{"alice", "prod", "because"},
		{"x\"<&>'", "a]]>b", "<![CDATA[ x ]]>"},
		{"\x00\x01\x1b[31m", "\u2028\u2029", "\xff\xfe invalid utf-8"},
		{"[link](https://example.com)", "=cmd|' /C calc'!A0", "\\[escaped\\]"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, user, accountName, reason string) {
		fd := finding("u", setupkeys.StatusFail, "")
		fd.User, fd.AccountName, fd.Reason = user, accountName, reason
		a := setupkeys.Audit{StartedAt: now, Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", AccountName: accountName, Findings: []setupkeys.Finding{fd}}}}

		var sarifOut bytes.Buffer
		if err := SARIF(&sarifOut, a, Options{Now: now}); err != nil {
			t.Fatal(err)
		}
		var log sarifLog
		if err := json.Unmarshal(sarifOut.Bytes(), &log); err != nil {
			t.Fatalf("SARIF is not JSON: %v", err)
		}
		if got := log.Runs[0].Results[0].Properties.Finding.User; got != string([]rune(user)) { // encoding/json writes each invalid byte as U+FFFD
			t.Errorf("SARIF user %q, want %q", got, user)
		}

		var ocsfOut bytes.Buffer
		if err := OCSF(&ocsfOut, a, Options{Now: now}); err != nil {
			t.Fatal(err)
		}
		var events []OCSFEvent
		if err := json.Unmarshal(ocsfOut.Bytes(), &events); err != nil || len(events) != 1 {
			t.Fatalf("OCSF: %v, %d events", err, len(events))
		}

		var junitOut bytes.Buffer
		if err := JUnit(&junitOut, a, Options{Now: now}); err != nil {
			t.Fatal(err)
		}
		suites, err := junit.Ingest(junitOut.Bytes())
		if err != nil || len(suites) != 1 || len(suites[0].Tests) != 1 {
			t.Fatalf("JUnit unreadable: %v\n%s", err, junitOut.String())
		}
		if name := suites[0].Tests[0].Name; !strings.HasSuffix(name, " / access key 1") {
			t.Errorf("JUnit name %q", name)
		}
	})
}
