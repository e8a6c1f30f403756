package source

import (
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
			res, err := FromReport(strings.NewReader(input), "r.csv", setupkeys.SourceReportFile, Options{})
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
