package credreport

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

const header = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

const aliceRow = "alice,arn:aws:iam::123456789012:user/alice,2024-07-30T21:53:09+00:00,true,N/A,2024-07-30T21:53:09+00:00,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

func readAll(t *testing.T, input string) ([]setupkeys.User, *Reader, error) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(input), "report.csv")
	if err != nil {
		return nil, nil, err
	}
	var users []setupkeys.User
	for {
		u, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return users, rd, nil
		}
		if err != nil {
			return users, rd, err
		}
		users = append(users, u)
	}
}

func cliJSON(csv string) string {
	return `{
    "Content": "` + base64.StdEncoding.EncodeToString([]byte(csv)) + `",
    "ReportFormat": "text/csv",
    "GeneratedTime": "2026-11-27T01:02:03+00:00"
}`
}

func TestFormatsAgree(t *testing.T) {
	csv := header + "\n" + aliceRow + "\n"
	wrapped := base64.StdEncoding.EncodeToString([]byte(csv))
	var lines []string
	for len(wrapped) > 76 {
		lines, wrapped = append(lines, wrapped[:76]), wrapped[76:]
	}
	lines = append(lines, wrapped)
	tests := []struct {
		name       string
		input      string
		format     Format
		hasGenTime bool
	}{
		{"csv", csv, FormatCSV, false},
		{"csv with CRLF", strings.ReplaceAll(csv, "\n", "\r\n"), FormatCSV, false},
		{"csv with BOM", "\ufeff" + csv, FormatCSV, false},
		{"csv with capitalised header", "User" + csv[4:], FormatCSV, false},
		{"aws cli json", cliJSON(csv), FormatJSON, true},
		{"aws cli json, BOM inside content", cliJSON("\ufeff" + csv), FormatJSON, true},
		{"bare base64", base64.StdEncoding.EncodeToString([]byte(csv)), FormatBase64, false},
		{"wrapped base64 with CRLF", strings.Join(lines, "\r\n") + "\r\n", FormatBase64, false},
		{"base64 of a BOM csv", base64.StdEncoding.EncodeToString([]byte("\ufeff" + csv)), FormatBase64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, rd, err := readAll(t, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if rd.Format() != tt.format {
				t.Errorf("format %s, want %s", rd.Format(), tt.format)
			}
			if (rd.GeneratedTime() != nil) != tt.hasGenTime {
				t.Errorf("generated time %v, want present=%v", rd.GeneratedTime(), tt.hasGenTime)
			}
			if len(users) != 1 {
				t.Fatalf("got %d users, want 1", len(users))
			}
			u := users[0]
			want := time.Date(2024, 7, 30, 21, 53, 9, 0, time.UTC)
			if u.Name != "alice" || u.AccountID != "123456789012" || !u.Created.Equal(want) || !u.PasswordEnabled || u.Line != 2 {
				t.Errorf("user = %+v", u)
			}
			if len(u.Keys) != 1 || u.Keys[0].Slot != 1 || !u.Keys[0].Active || !u.Keys[0].Created.Equal(want.Add(4*time.Second)) || !u.Keys[0].LastUsed.IsZero() {
				t.Errorf("keys = %+v", u.Keys)
			}
		})
	}
}

func TestFieldVariants(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, users []setupkeys.User)
	}{
		{"quoted name with comma and path", header + "\n" + `"dave,ops","arn:aws:iam::123456789012:user/ops/dave,ops",2019-01-10T12:00:00Z,TRUE,N/A,N/A,N/A,false,True,2019-01-10T12:00:00Z,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A` + "\n",
			func(t *testing.T, users []setupkeys.User) {
				if users[0].Name != "dave,ops" || !users[0].PasswordEnabled || len(users[0].Keys) != 1 || !users[0].Keys[0].Active {
					t.Errorf("got %+v", users[0])
				}
			}},
		{"extra columns anywhere are ignored", "tag," + header + ",extra\n" + "x," + aliceRow + ",y\n",
			func(t *testing.T, users []setupkeys.User) {
				if users[0].Name != "alice" || len(users[0].Keys) != 1 {
					t.Errorf("got %+v", users[0])
				}
			}},
		{"root row is marked and has no password", header + "\n<root_account>,arn:aws:iam::123456789012:root,2016-05-16T18:13:11+00:00,not_supported,2016-10-06T15:47:11+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
			func(t *testing.T, users []setupkeys.User) {
				if !users[0].IsRoot || users[0].PasswordEnabled {
					t.Errorf("got %+v", users[0])
				}
			}},
		{"inactive key keeps its date but is inactive; used key has service and no region", header + "\nbob,arn:aws:iam::123456789012:user/bob,2016-05-16T18:13:11+00:00,true,N/A,N/A,N/A,false,false,2016-05-16T18:13:11+00:00,N/A,N/A,N/A,true,2016-06-01T00:00:00+00:00,2016-07-01T10:11:00+00:00,N/A,s3,false,N/A,false,N/A\n",
			func(t *testing.T, users []setupkeys.User) {
				k := users[0].Keys
				if len(k) != 2 || k[0].Active || !k[1].Active || k[1].LastUsedService != "s3" || k[1].LastUsedRegion != "" || k[1].LastUsed.IsZero() {
					t.Errorf("got %+v", k)
				}
			}},
		{"fractional seconds", header + "\n" + strings.Replace(aliceRow, "2024-07-30T21:53:13+00:00", "2024-07-30T21:53:13.250Z", 1) + "\n",
			func(t *testing.T, users []setupkeys.User) {
				if users[0].Keys[0].Created.Nanosecond() != 250_000_000 {
					t.Errorf("got %v", users[0].Keys[0].Created)
				}
			}},
		{"a million blank lines do not exhaust the stack", header + "\n" + strings.Repeat(" \n", 1_000_000) + aliceRow + "\n",
			func(t *testing.T, users []setupkeys.User) {
				if len(users) != 1 || users[0].Line != 1_000_002 {
					t.Errorf("got %d users, line %d", len(users), users[0].Line)
				}
			}},
		{"blank trailing lines", header + "\n" + aliceRow + "\n\n\n",
			func(t *testing.T, users []setupkeys.User) {
				if len(users) != 1 {
					t.Errorf("got %d users", len(users))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, _, err := readAll(t, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) == 0 {
				t.Fatal("no users")
			}
			tt.check(t, users)
		})
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // the error must contain this
	}{
		{"empty", "", "report.csv: empty input"},
		{"only whitespace", " \n\r\n", "report.csv: empty input"},
		{"missing column", strings.Replace(header, ",access_key_2_last_rotated", "", 1) + "\n", "report.csv:1: not a credential report: header lacks access_key_2_last_rotated"},
		{"not a report at all", "hello world, this is not it\n", "not a credential report"},
		{"base64 of something else", base64.StdEncoding.EncodeToString([]byte("name,age\nbob,3\n")), "report.csv:1: not a credential report: header lacks user"},
		{"wrong base64", "dXNlcixhcm4*!!", "bad base64"},
		{"one letter: base64 that ends mid-group", "x", "neither CSV, JSON nor complete base64"},
		{"a word and a newline", "x\n", "neither CSV, JSON nor complete base64"},
		{"truncated json", cliJSON(header)[:40], "truncated JSON"},
		{"json without content", `{"ReportFormat":"text/csv"}`, "JSON has no Content field"},
		{"json with two contents", `{"Content":"","Content":"dXNlcg=="}`, `report.csv:1:15: field "Content" appears twice in the same object`},
		{"json with a case variant", `{"Content":"","content":"dXNlcg=="}`, `report.csv:1:15: unknown field "content" (field names are exact, case included)`},
		{"json with an unknown field", `{"Content":"","ReportFormatt":"text/csv"}`, `unknown field "ReportFormatt"`},
		{"json with text after it", `{"Content":""}{"Content":""}`, `report.csv:1:15: more than one JSON value`},
		{"json with bad base64", `{"Content":"@@@@","ReportFormat":"text/csv"}`, "column Content: Content is not valid base64"},
		{"json with a bad generated time", `{"Content":"","GeneratedTime":"yesterday"}`, "column GeneratedTime"},
		{"json with wrong format", `{"Content":"","ReportFormat":"application/pdf"}`, "unsupported report format"},
		{"odd date", header + "\n" + strings.Replace(aliceRow, "2024-07-30T21:53:09+00:00", "30/07/2024 21:53", 1) + "\n", "report.csv:2: column user_creation_time: \"30/07/2024 21:53\" is not an ISO 8601 time"},
		{"N/A user creation time", header + "\n" + strings.Replace(aliceRow, "2024-07-30T21:53:09+00:00", "N/A", 1) + "\n", "column user_creation_time: \"N/A\" where a time is required"},
		{"bad boolean", header + "\n" + strings.Replace(aliceRow, ",true,N/A,", ",yes,N/A,", 1) + "\n", "report.csv:2: column password_enabled: \"yes\" is not true or false"},
		{"active key without a date", header + "\n" + strings.Replace(aliceRow, "2024-07-30T21:53:13+00:00", "N/A", 1) + "\n", "column access_key_1_last_rotated: the key is active but has no creation date"},
		{"short row", header + "\n" + "alice,arn:aws:iam::123456789012:user/alice\n", "report.csv:2: row has 2 fields, the header has 22"},
		{"unterminated quote", header + "\n" + `"alice,arn` + "\n", "report.csv:2: malformed CSV"},
		{"not an arn", header + "\n" + strings.Replace(aliceRow, "arn:aws:iam::123456789012:user/alice", "alice", 1) + "\n", "column arn: \"alice\" is not an ARN"},
		{"duplicate header column", header + ",user\n", "column user: column appears twice"},
		{"extra field after the last column", header + "\n" + aliceRow + ",surplus\n", "report.csv:2:200: row has 23 fields, the header has 22: extra fields after the last column"},
		{"ESC in a user name", header + "\n" + strings.Replace(aliceRow, "alice,", "al\x1b[2Jice,", 1) + "\n", `report.csv:2:3: column user: a control or format character (\x1b) in "al\x1b[2Jice": refused`},
		{"NUL in a user name", header + "\n" + strings.Replace(aliceRow, "alice,", "al\x00ice,", 1) + "\n", `report.csv:2:3: column user: a NUL byte`},
		{"invalid UTF-8 in a user name", header + "\n" + strings.Replace(aliceRow, "alice,", "al\xffice,", 1) + "\n", `report.csv:2:3: column user: invalid UTF-8 in "al\xffice"`},
		{"BOM mid-file", header + "\n" + aliceRow + "\n\ufeff" + aliceRow + "\n", `report.csv:3:1: column user: a byte order mark`},
		{"bidi override in an ARN", header + "\n" + strings.Replace(aliceRow, "user/alice", "user/al\u202eice", 1) + "\n", `column arn: a control or format character (\u202e)`},
		{"CR-only line ends", header + "\r" + aliceRow + "\r", "report.csv:1: lines end in a bare CR"},
		{"bad row after good ones names its line", header + "\n" + aliceRow + "\n" + aliceRow + "\n" + strings.Replace(aliceRow, ",false,true,", ",false,maybe,", 1) + "\n", "report.csv:4: column access_key_1_active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, tt.input)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Errorf("error %T is not *credreport.Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// The recorded AWS report: real format, nothing fails under the rule, and every row parses.
func TestRecordedReport(t *testing.T) {
	f, err := os.Open("testdata/recorded-2016.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f, "recorded-2016.csv")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]setupkeys.User{}
	n := 0
	for {
		u, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		byName[u.Name] = append(byName[u.Name], u)
	}
	if n != 21 {
		t.Errorf("read %d users, want 21", n)
	}
	if !byName["<root_account>"][0].IsRoot {
		t.Error("root row not marked")
	}
	andrew := byName["andrew"][0]
	if len(andrew.Keys) != 2 || !andrew.Keys[0].Created.After(andrew.Keys[1].Created) {
		t.Errorf("andrew: slot 1 should be newer than slot 2: %+v", andrew.Keys)
	}
	if andrew.Keys[1].LastUsedRegion != "us-east-1" || andrew.Keys[1].LastUsedService != "ec2" {
		t.Errorf("andrew slot 2 last used: %+v", andrew.Keys[1])
	}
	c7n := byName["c7n-iam-test"][0]
	if c7n.PasswordEnabled || !c7n.Keys[0].Created.Equal(c7n.Created) {
		t.Errorf("c7n-iam-test: %+v", c7n)
	}
	if len(byName["christopher"]) != 2 {
		t.Errorf("christopher rows: %d, want 2", len(byName["christopher"]))
	}
}
