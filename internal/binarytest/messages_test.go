package binarytest

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"
)

// An error with a hint on a line of its own prints two lines, the hint's not escaped into the
// first ("\nhint:"), and a control character from the input stays escaped.
func TestErrorHintOnItsOwnLine(t *testing.T) {
	data, err := os.ReadFile(example())
	if err != nil {
		t.Fatal(err)
	}
	text := base64.StdEncoding.EncodeToString(data) + "\ttext/csv\t2015-06-01T10:00:00+00:00\n"
	r := run(t, cleanEnv(t), text, "audit", "--report", "-")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 2 || len(lines) != 2 || !strings.HasPrefix(lines[0], "setupkeys: stdin: not a credential report") ||
		lines[1] != "hint: this looks like the AWS CLI's --output text, which setupkeys cannot read: run aws iam get-credential-report --output json" {
		t.Errorf("exit %d, stderr lines %q", r.code, lines)
	}
	r = run(t, cleanEnv(t), "", "audit", "--report", "no\x1b[2Jsuch\nfile.csv")
	if r.code != 2 || strings.Contains(r.stderr, "\x1b") || !strings.Contains(r.stderr, `no\x1b[2Jsuch`) {
		t.Errorf("exit %d, stderr %q: the escape must stay escaped", r.code, r.stderr)
	}
}
