package source

import (
	"bytes"
	"hash/fnv"
	"os"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
)

// A user repeated in a report (an edited or concatenated file) is counted once and each key is
// judged once, on the first row that shows it; a key only the later row shows is still judged.
func TestFromReportDuplicateRows(t *testing.T) {
	alice := "alice,arn:aws:iam::123456789012:user/alice,2024-07-30T21:53:09+00:00,true,N/A,N/A,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
	aliceMore := "alice,arn:aws:iam::123456789012:user/alice,2024-07-30T21:53:09+00:00,true,N/A,N/A,N/A,false,true,2024-07-30T21:53:13+00:00,N/A,N/A,N/A,true,2024-07-30T21:55:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A"
	tests := []struct {
		name      string
		rows      []string
		wantFails int
		wantWarn  int
	}{
		{"once", []string{alice}, 1, 0},
		{"twice, identical", []string{alice, alice}, 1, 1},
		{"again with a second key", []string{alice, aliceMore}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := reportgen.Header + "\n" + strings.Join(tt.rows, "\n") + "\n"
			res, err := fromReport(strings.NewReader(input), "r.csv", Options{})
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]bool{}
			for _, f := range res.Findings {
				if ids[f.ID] {
					t.Errorf("finding %s twice", f.ID)
				}
				ids[f.ID] = true
			}
			if res.Users != 1 || len(res.Findings) != tt.wantFails || len(res.Warnings) != tt.wantWarn {
				t.Errorf("users %d, findings %d, warnings %q; want 1, %d, %d", res.Users, len(res.Findings), res.Warnings, tt.wantFails, tt.wantWarn)
			}
		})
	}
}

// Two users whose ARNs have the same 64-bit FNV-1a hash (found by testdata/fnvcollide.go) are two
// users: each one's failing key is judged, and neither is taken for a repeat of the other (both
// made in the same second, so a key check by creation time alone would drop the second one's key).
func TestFromReportHashTwinsAreTwoUsers(t *testing.T) {
	data, err := os.ReadFile("testdata/fnv-collision.csv")
	if err != nil {
		t.Fatal(err)
	}
	res, err := fromReport(bytes.NewReader(data), "fnv-collision.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		arns = append(arns, strings.Split(line, ",")[1])
	}
	oldHash := func(s string) uint64 { h := fnv.New64a(); h.Write([]byte(s)); return h.Sum64() }
	if len(arns) != 2 || arns[0] == arns[1] || oldHash(arns[0]) != oldHash(arns[1]) {
		t.Fatalf("test data: want two ARNs with one FNV-1a hash, got %q", arns)
	}
	failed := map[string]bool{}
	for _, f := range res.Findings {
		if f.Status == setupkeys.StatusFail {
			failed[f.ARN] = true
		}
	}
	if res.Users != 2 || len(res.Warnings) != 0 || !failed[arns[0]] || !failed[arns[1]] {
		t.Errorf("users %d, warnings %q, failed %v; want both users judged, each key failing", res.Users, res.Warnings, failed)
	}
}
