package binarytest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// reportHeader is a credential report's header line, for tests that write their own report.
const reportHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"

// A suppression file's YAML syntax error and every rule error name file:line:column, exit 2,
// and nothing reaches stdout.
func TestSuppressionErrorsArePlaced(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", "suppressions:\n  - user: alice\n    reason: x\n   bad: y\n",
			[]string{":4:4: bad YAML: did not find expected '-' indicator (while parsing a block collection that starts at 2:3)"}},
		{"unclosed quote", "suppressions:\n  - user: \"alice\n    reason: r\n",
			[]string{":4:1: bad YAML: found unexpected end of stream (while scanning a quoted scalar that starts at 2:11)"}},
		{"rules", "suppressions:\n  - user: a\n    reason: r\n    expiry: 2027-01-01\n  - access_key_id: AKIA1\n    reason: r\n    expires: soon\n  - user: b\n    user: c\n    reason: r\n",
			[]string{`:4:5: unknown field "expiry"`, `:5:20: access_key_id "*****" is not an access key ID`, `:7:14: expires "soon" is not a date`, `:9:5: field "user" given twice (first at 8:5)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".yaml")
			writeFile(t, path, tt.yaml)
			r := run(t, cleanEnv(t), "", "audit", "--report", example(), "--suppressions", path)
			if r.code != 2 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing", r.code, r.stdout)
			}
			if strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("not one line: %q", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, path+w) {
					t.Errorf("stderr %q does not name %s%s", r.stderr, path, w)
				}
			}
		})
	}
}

// A tag rule on a report file is one warning, however many users the report has; an expired
// suppression names the findings it would have covered, the first ten and how many more, on
// stderr for CSV and in the JSON's warnings.
func TestSuppressionWarnings(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	var b strings.Builder
	b.WriteString(reportHeader)
	for i := range 14 {
		fmt.Fprintf(&b, "user%02d,arn:aws:iam::123456789012:user/user%02d,2024-07-30T21:53:09+00:00,true,N/A,2024-07-30T21:53:09+00:00,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n", i, i)
	}
	writeFile(t, report, b.String())
	supp := filepath.Join(dir, "supp.yaml")
	writeFile(t, supp, "suppressions:\n  - user_tag: {key: team}\n    reason: tagged\n  - user_path: /\n    reason: old exception\n    expires: 2025-01-01\n")

	r := run(t, cleanEnv(t), "", "audit", "--report", report, "--suppressions", supp, "--format", "csv")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 warning lines, got %d: %q", len(lines), r.stderr)
	}
	wantTag := "setupkeys: warning: suppression " + supp + ":2 selects by user_tag, but a report file has no tags, so it covers nothing here: audit the live account to read tags, or select these users by user or user_path"
	if lines[0] != wantTag {
		t.Errorf("tag warning\n %s\nwant\n %s", lines[0], wantTag)
	}
	wantExpired := "setupkeys: warning: suppression " + supp + ":4 (user_path=/) expired on 2025-01-01T00:00:00Z and no longer covers 14 findings: 123456789012/user00 slot 1 fail; "
	if !strings.HasPrefix(lines[1], wantExpired) || !strings.Contains(lines[1], "123456789012/user09 slot 1 fail; and 4 more (its reason was: old exception; renew its expires: or remove it)") || strings.Contains(lines[1], "user10") {
		t.Errorf("expired warning: %s", lines[1])
	}

	r = run(t, cleanEnv(t), "", "audit", "--report", report, "--suppressions", supp, "--format", "json")
	var doc struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if len(doc.Warnings) != 2 || "setupkeys: warning: "+doc.Warnings[1] != lines[1] {
		t.Errorf("JSON warnings %q, want the two stderr lines", doc.Warnings)
	}
}
