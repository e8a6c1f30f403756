package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/rule"
)

var asffNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// exampleAudit audits the bundled example report as `setupkeys audit --report` does.
func exampleAudit(t *testing.T, region string) setupkeys.Audit {
	t.Helper()
	f, err := os.Open("../../examples/credential-report.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	audit, err := pipeline.Run(context.Background(), pipeline.Config{Report: f, ReportName: "examples/credential-report.csv", KeepPassing: true, Now: func() time.Time { return asffNow }}, pipeline.Clients{})
	if err != nil {
		t.Fatal(err)
	}
	audit.Region = region
	return audit
}

func renderASFF(t *testing.T, a setupkeys.Audit) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Render(&buf, "asff", a, report.Options{Now: asffNow}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// requiredASFF are the attributes BatchImportFindings refuses a finding without.
var requiredASFF = []string{"AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn", "Resources", "SchemaVersion", "Severity", "Title", "Types", "UpdatedAt"}

func TestASFFExampleRequiredAttributes(t *testing.T) {
	var doc struct{ Findings []map[string]any }
	dec := json.NewDecoder(bytes.NewReader(renderASFF(t, exampleAudit(t, "eu-west-1"))))
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// The example has four fail and one review finding; pass keys are not reported.
	if len(doc.Findings) != 5 {
		t.Fatalf("%d findings, want 5", len(doc.Findings))
	}
	ids := map[any]bool{}
	for _, f := range doc.Findings {
		for _, attr := range requiredASFF {
			if v, ok := f[attr]; !ok || v == "" || v == nil {
				t.Errorf("finding %v lacks %s", f["Id"], attr)
			}
		}
		if ids[f["Id"]] {
			t.Errorf("Id %v twice", f["Id"])
		}
		ids[f["Id"]] = true
		if f["SchemaVersion"] != "2018-10-08" {
			t.Errorf("SchemaVersion %v", f["SchemaVersion"])
		}
		if want := "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"; f["ProductArn"] != want {
			t.Errorf("ProductArn %v, want %s", f["ProductArn"], want)
		}
		if n := utf8.RuneCountInString(f["Description"].(string)); n > 1024 {
			t.Errorf("Description of %d characters", n)
		}
		provider := f["FindingProviderFields"].(map[string]any)
		if provider["Severity"] == nil || provider["Types"] == nil {
			t.Errorf("FindingProviderFields %v lacks Severity or Types", provider)
		}
	}
}

// user makes a console user created at created with keys created the given offsets after it,
// never used.
func user(name, arn string, created time.Time, keyOffsets ...time.Duration) setupkeys.User {
	u := setupkeys.User{AccountID: setupkeys.AccountFromARN(arn), Name: name, ARN: arn, Created: created, PasswordEnabled: true}
	for i, off := range keyOffsets {
		u.Keys = append(u.Keys, setupkeys.AccessKey{Slot: i + 1, Active: true, Created: created.Add(off)})
	}
	return u
}

func auditOf(region string, findings ...setupkeys.Finding) setupkeys.Audit {
	return setupkeys.Audit{Region: region, Accounts: []setupkeys.AccountResult{{AccountID: findings[0].AccountID, Findings: findings}}}
}

func TestASFFFindings(t *testing.T) {
	created := time.Date(2024, 7, 30, 21, 53, 9, 0, time.UTC)
	old := time.Date(2014, 11, 3, 9, 30, 0, 0, time.UTC)
	src := setupkeys.Source{Kind: setupkeys.SourceLiveAPI}
	evaluate := func(u setupkeys.User) []setupkeys.Finding { return rule.Evaluate(u, src, rule.Options{}) }
	withKeyID := func(fs []setupkeys.Finding, ids ...string) []setupkeys.Finding {
		for i := range fs {
			fs[i].AccessKeyID = &ids[i]
		}
		return fs
	}
	suppressed := evaluate(user("sam", "arn:aws:iam::123456789012:user/sam", created, 2*time.Second))[0]
	suppressed.Status, suppressed.Suppression = setupkeys.StatusSuppressed, &setupkeys.SuppressionNote{Reason: "accepted", Was: setupkeys.StatusFail}
	longName := strings.Repeat("ü", 2000)

	tests := []struct {
		name  string
		audit setupkeys.Audit
		check func(t *testing.T, got []report.ASFFFinding)
	}{
		{"twin keys of one user get two Ids", auditOf("", withKeyID(evaluate(user("twin", "arn:aws:iam::123456789012:user/twin", created, 3*time.Second, 3*time.Second)), "AKIAAAAAAAAAAAAAAAA1", "AKIAAAAAAAAAAAAAAAA2")...),
			func(t *testing.T, got []report.ASFFFinding) {
				if len(got) != 2 || got[0].Id == got[1].Id {
					t.Fatalf("Ids %v", ids(got))
				}
				for i, f := range got {
					key := f.Resources[0].Details.AwsIamAccessKey
					if key.AccessKeyId != "AKIAAAAAAAAAAAAAAAA"+string(rune('1'+i)) || f.Resources[0].Id != key.AccessKeyId {
						t.Errorf("key resource %+v", f.Resources[0])
					}
				}
			}},
		{"fail is FAILED and MEDIUM, review WARNING and LOW", auditOf("",
			append(evaluate(user("new", "arn:aws:iam::123456789012:user/new", created, time.Second)), evaluate(user("old", "arn:aws:iam::123456789012:user/old", old, time.Minute))...)...),
			func(t *testing.T, got []report.ASFFFinding) {
				want := map[string][2]string{"new": {"FAILED", "MEDIUM"}, "old": {"WARNING", "LOW"}}
				for _, f := range got {
					w := want[f.Resources[0].Details.AwsIamAccessKey.PrincipalName]
					if f.Compliance.Status != w[0] || f.Severity.Label != w[1] || f.FindingProviderFields.Severity.Label != w[1] {
						t.Errorf("%s: compliance %s severity %s/%s, want %v", f.Id, f.Compliance.Status, f.Severity.Label, f.FindingProviderFields.Severity.Label, w)
					}
				}
				if len(got) != 2 {
					t.Errorf("%d findings", len(got))
				}
			}},
		{"pass and suppressed are not reported", auditOf("", append(evaluate(user("used", "arn:aws:iam::123456789012:user/used", created, time.Hour)), suppressed)...),
			func(t *testing.T, got []report.ASFFFinding) {
				if len(got) != 0 {
					t.Errorf("got %v", ids(got))
				}
			}},
		{"key unknown: the resource is the user's slot", auditOf("", evaluate(user("file", "arn:aws:iam::123456789012:user/ops/file", created, 0))...),
			func(t *testing.T, got []report.ASFFFinding) {
				r := got[0].Resources
				if r[0].Type != "AwsIamAccessKey" || r[0].Id != "arn:aws:iam::123456789012:user/ops/file/access_key_1" || r[0].Details.AwsIamAccessKey.AccessKeyId != "" {
					t.Errorf("key resource %+v", r[0])
				}
				if r[1].Type != "AwsIamUser" || r[1].Id != "arn:aws:iam::123456789012:user/ops/file" || r[1].Details.AwsIamUser.Path != "/ops/" {
					t.Errorf("user resource %+v %+v", r[1], r[1].Details.AwsIamUser)
				}
			}},
		{"partition from the ARN, region from the run", auditOf("cn-north-1", evaluate(user("li", "arn:aws-cn:iam::123456789012:user/li", created, 0))...),
			func(t *testing.T, got []report.ASFFFinding) {
				f := got[0]
				if f.ProductArn != "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default" || f.Region != "cn-north-1" || f.Resources[0].Partition != "aws-cn" {
					t.Errorf("ProductArn %s region %s partition %s", f.ProductArn, f.Region, f.Resources[0].Partition)
				}
			}},
		{"every CIS version names the control", auditOf("", evaluate(user("cis", "arn:aws:iam::123456789012:user/cis", created, 0))...),
			func(t *testing.T, got []report.ASFFFinding) {
				reqs := got[0].Compliance.RelatedRequirements
				for _, want := range []string{"v1.2.0/1.21", "v1.3.0/1.11", "v1.4.0/1.11", "v2.0.0/1.11", "v3.0.0/1.11", "v4.0.1/1.11", "v5.0.0/1.10", "v6.0.0/2.10"} {
					if !slices.Contains(reqs, "CIS AWS Foundations Benchmark "+want) {
						t.Errorf("RelatedRequirements %v lacks %s", reqs, want)
					}
				}
				if text := got[0].Remediation.Recommendation.Text; !strings.Contains(text, "setupkeys plan") || !strings.Contains(text, "setupkeys apply") {
					t.Errorf("remediation %q", text)
				}
			}},
		{"long names are cut to ASFF's limits", auditOf("", evaluate(user(longName, "arn:aws:iam::123456789012:user/"+longName, created, 0))...),
			func(t *testing.T, got []report.ASFFFinding) {
				f := got[0]
				if n := utf8.RuneCountInString(f.Description); n != 1024 || !utf8.ValidString(f.Description) || !strings.HasSuffix(f.Description, "…") {
					t.Errorf("description: %d characters, valid %v", n, utf8.ValidString(f.Description))
				}
				if n := utf8.RuneCountInString(f.Title); n != 256 {
					t.Errorf("title: %d characters", n)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, report.ASFFFindings(tt.audit, asffNow))
		})
	}
}

func ids(fs []report.ASFFFinding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Id)
	}
	return out
}

// BenchmarkASFF renders 10,000 findings (5,000 users with two failing keys each, the IAM user
// quota of one account).
func BenchmarkASFF(b *testing.B) {
	created := time.Date(2024, 7, 30, 21, 53, 9, 0, time.UTC)
	var findings []setupkeys.Finding
	for i := range 5000 {
		name := "user" + strconv.Itoa(i)
		findings = append(findings, rule.Evaluate(user(name, "arn:aws:iam::123456789012:user/"+name, created, time.Second, 2*time.Second), setupkeys.Source{Kind: setupkeys.SourceLiveAPI}, rule.Options{})...)
	}
	a := auditOf("us-east-1", findings...)
	b.ReportAllocs()
	for b.Loop() {
		if err := report.Render(io.Discard, "asff", a, report.Options{Now: asffNow}); err != nil {
			b.Fatal(err)
		}
	}
}

// The document is written finding by finding: compact and indented, empty or not, it is one
// JSON object with the same findings as ASFFFindings.
func TestASFFDocumentShapes(t *testing.T) {
	full := exampleAudit(t, "")
	empty := setupkeys.Audit{Accounts: []setupkeys.AccountResult{{AccountID: "123456789012"}}}
	for _, tt := range []struct {
		name   string
		audit  setupkeys.Audit
		indent bool
	}{{"compact", full, false}, {"indented", full, true}, {"empty compact", empty, false}, {"empty indented", empty, true}} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.Render(&buf, "asff", tt.audit, report.Options{Now: asffNow, IndentJSON: tt.indent}); err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
			dec.DisallowUnknownFields()
			var doc report.ASFFDocument
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%v:\n%s", err, buf.Bytes())
			}
			if dec.More() {
				t.Errorf("more than one JSON value")
			}
			want := report.ASFFFindings(tt.audit, asffNow)
			if doc.Findings == nil || !reflect.DeepEqual(doc.Findings, want) {
				t.Errorf("got %d findings, want %d", len(doc.Findings), len(want))
			}
			if indented := strings.Contains(buf.String(), "\n  "); indented != tt.indent {
				t.Errorf("indented %v:\n%s", indented, buf.Bytes())
			}
		})
	}
}
