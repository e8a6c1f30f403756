package binarytest

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// On an 80-column terminal even a user name of IAM's full 64 characters fits: the names leave the
// columns for a line of their own under each key.
func TestTableFitsWithALongUserName(t *testing.T) {
	name := strings.Repeat("a", 56) + "@corp.io"
	report := filepath.Join(t.TempDir(), "report.csv")
	writeFile(t, report, reportHeader+
		name+",arn:aws:iam::123456789012:user/"+name+",2024-07-30T21:53:09+00:00,true,N/A,2024-07-30T21:53:09+00:00,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
	r := runTTY(t, 80, cleanEnv(t), "", "audit", "--report", report)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3:\n%s", r.code, r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	if !strings.Contains(r.stdout, "\n      user "+name+"\n      key created at setup (4s after the user) and never used\n") {
		t.Errorf("the name is not on its own line above the reason:\n%s", r.stdout)
	}
}
