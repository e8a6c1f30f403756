package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/setupkeys/setupkeys/internal/report"
)

func TestAuditASFFRegion(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		region string
	}{
		{"report file: us-east-1", nil, "us-east-1"},
		{"report file: --region", []string{"--region", "eu-west-1"}, "eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", append([]string{"audit", "--report", exampleReport, "--format", "asff"}, tt.args...)...)
			if code != ExitFailed {
				t.Fatalf("exit %d, want 3 (stderr %q)", code, errOut)
			}
			var doc report.ASFFDocument
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			want := report.ASFFProductARN("aws", tt.region, "123456789012")
			if len(doc.Findings) != 5 || doc.Findings[0].ProductArn != want || doc.Findings[0].Region != tt.region {
				t.Errorf("%d findings, ProductArn %s region %s; want 5, %s", len(doc.Findings), doc.Findings[0].ProductArn, doc.Findings[0].Region, want)
			}
		})
	}
}

func TestAuditSecurityHubNeedsALiveAudit(t *testing.T) {
	code, _, errOut := runCLI(t, "", "audit", "--report", exampleReport, "--security-hub")
	if code != ExitBadInput || !strings.Contains(errOut, "--security-hub") {
		t.Errorf("exit %d, stderr %q; want 2 naming --security-hub", code, errOut)
	}
}
