package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

const ocsfSchemaDir = "testdata/ocsf-1.6.0"

// checkOCSF parses an ocsf rendering and checks every event against the Compliance Finding
// class of OCSF 1.6.0 and the values the issue asks for.
func checkOCSF(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	schema := loadOCSFSchema(t, ocsfSchemaDir)
	class := schema.class(t, "compliance_finding")
	var events []map[string]any
	if err := json.Unmarshal(data, &events); err != nil {
		t.Fatalf("not a JSON array: %v", err)
	}
	for i, e := range events {
		var profiles []string
		if md, ok := e["metadata"].(map[string]any); ok {
			for _, p := range md["profiles"].([]any) {
				profiles = append(profiles, p.(string))
			}
		}
		if problems := schema.validate(t, "event", e, class, profiles); len(problems) > 0 {
			t.Errorf("event %d does not fit OCSF 1.6.0 compliance_finding:\n  %s", i, strings.Join(problems, "\n  "))
		}
		want := map[string]float64{"class_uid": 2003, "category_uid": 2, "type_uid": 200301, "activity_id": 1}
		for k, v := range want {
			if e[k] != v {
				t.Errorf("event %d: %s = %v, want %v", i, k, e[k], v)
			}
		}
		if md := e["metadata"].(map[string]any); md["version"] != "1.6.0" || md["product"].(map[string]any)["name"] != "setupkeys" {
			t.Errorf("event %d: metadata %v", i, md)
		}
	}
	return events
}

func TestOCSFFitsTheClass(t *testing.T) {
	expires := now.Add(24 * time.Hour)
	suppressed := finding("sam", setupkeys.StatusSuppressed, "AKIAIOSFODNN7EXAMPLE")
	suppressed.Suppression = &setupkeys.SuppressionNote{Reason: "break-glass", Expires: &expires, Was: setupkeys.StatusFail}
	hostile := finding("evil\"<x>\x1b", setupkeys.StatusReview, "")
	a := setupkeys.Audit{StartedAt: now, Window: time.Minute, Accounts: []setupkeys.AccountResult{
		{AccountID: "123456789012", AccountName: "prod", Findings: []setupkeys.Finding{
			finding("amy", setupkeys.StatusFail, "AKIAIOSFODNN7EXAMPLE"), hostile, suppressed, finding("pat", setupkeys.StatusPass, "")}},
		{AccountID: "210987654321", Err: errors.New("denied")},
	}}
	var buf bytes.Buffer
	if err := OCSF(&buf, a, Options{Now: now, ToolVersion: "1.2.3"}); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(buf.Bytes(), "\x1b") {
		t.Error("raw control character in the output")
	}
	events := checkOCSF(t, buf.Bytes())
	if len(events) != 4 {
		t.Fatalf("%d events, want one per finding", len(events))
	}
	type want struct {
		user, severity, status, compliance string
		keyUID                             any
	}
	wants := map[string]want{
		"amy":           {"amy", "Medium", "New", "Fail", "AKIAIOSFODNN7EXAMPLE"},
		"evil\"<x>\x1b": {"evil\"<x>\x1b", "Low", "New", "Warning", nil},
		"sam":           {"sam", "Informational", "Suppressed", "Fail", "AKIAIOSFODNN7EXAMPLE"},
		"pat":           {"pat", "Informational", "Resolved", "Pass", nil},
	}
	for _, e := range events {
		res := e["resources"].([]any)
		key, user := res[0].(map[string]any), res[1].(map[string]any)
		w, ok := wants[user["name"].(string)]
		if !ok {
			t.Fatalf("unexpected user resource %v", user)
		}
		fi := e["finding_info"].(map[string]any)
		comp := e["compliance"].(map[string]any)
		data := key["data"].(map[string]any)
		if fi["uid"] != data["id"] || fi["uid"] == "" || fi["title"] != ControlTitle {
			t.Errorf("%s: finding_info %v", w.user, fi)
		}
		if e["severity"] != w.severity || e["status"] != w.status || comp["status"] != w.compliance {
			t.Errorf("%s: severity %v, status %v, compliance %v; want %s %s %s", w.user, e["severity"], e["status"], comp["status"], w.severity, w.status, w.compliance)
		}
		if key["type"] != "AWS::IAM::AccessKey" || key["uid"] != w.keyUID || user["type"] != "AWS::IAM::User" || user["uid"] != data["arn"] {
			t.Errorf("%s: resources %v", w.user, res)
		}
		cloud := e["cloud"].(map[string]any)
		if cloud["provider"] != "AWS" || cloud["account"].(map[string]any)["uid"] != "123456789012" {
			t.Errorf("%s: cloud %v", w.user, cloud)
		}
		if e["time"] != float64(now.UnixMilli()) {
			t.Errorf("%s: time %v", w.user, e["time"])
		}
		standards := strings.Join(toStrings(comp["standards"]), ";")
		if !strings.Contains(standards, "CIS AWS Foundations Benchmark v1.2.0") || !strings.Contains(comp["control"].(string), "1.21 (v1.2.0)") {
			t.Errorf("%s: compliance %v", w.user, comp)
		}
	}
}

func TestOCSFEmptyAuditIsAnEmptyArray(t *testing.T) {
	var buf bytes.Buffer
	if err := OCSF(&buf, setupkeys.Audit{}, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("got %q", buf.String())
	}
}

// The check itself catches what it is for: a missing required attribute, an attribute outside
// the class, an enum value not defined, a caption that disagrees with its ID, a profile's
// attribute without the profile.
func TestOCSFCheckCatchesMistakes(t *testing.T) {
	var buf bytes.Buffer
	a := setupkeys.Audit{StartedAt: now, Accounts: []setupkeys.AccountResult{{AccountID: "123456789012", Findings: []setupkeys.Finding{finding("amy", setupkeys.StatusFail, "")}}}}
	if err := OCSF(&buf, a, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	schema := loadOCSFSchema(t, ocsfSchemaDir)
	class := schema.class(t, "compliance_finding")
	tests := []struct {
		name    string
		mutate  func(e map[string]any)
		profile []string
		want    string
	}{
		{"missing finding_info", func(e map[string]any) { delete(e, "finding_info") }, []string{"cloud"}, "event.finding_info: required attribute missing"},
		{"missing compliance", func(e map[string]any) { delete(e, "compliance") }, []string{"cloud"}, "event.compliance: required attribute missing"},
		{"unknown attribute", func(e map[string]any) { e["verdict"] = "fail" }, []string{"cloud"}, "event.verdict: not an attribute"},
		{"unknown nested attribute", func(e map[string]any) { e["compliance"].(map[string]any)["grade"] = 1 }, []string{"cloud"}, "event.compliance.grade: not an attribute"},
		{"bad enum", func(e map[string]any) { e["severity_id"] = 7.0 }, []string{"cloud"}, "event.severity_id: 7 is not one of"},
		{"another class", func(e map[string]any) { e["class_uid"] = 2004.0 }, []string{"cloud"}, "event.class_uid: 2004 is not one of [2003]"},
		{"undefined activity", func(e map[string]any) { e["type_uid"] = 200305.0 }, []string{"cloud"}, "event.type_uid: 200305 is not one of"},
		{"type name disagrees", func(e map[string]any) { e["type_name"] = "Detection Finding: Create" }, []string{"cloud"}, `type_name is "Detection Finding: Create"`},
		{"bad compliance status", func(e map[string]any) { e["compliance"].(map[string]any)["status_id"] = 4.0 }, []string{"cloud"}, "event.compliance.status_id: 4 is not one of"},
		{"caption disagrees", func(e map[string]any) { e["severity"] = "High" }, []string{"cloud"}, `event.severity_id: severity is "High"`},
		{"cloud without the profile", func(e map[string]any) {}, nil, "event.cloud: not an attribute"},
		{"wrong type", func(e map[string]any) { e["time"] = "yesterday" }, []string{"cloud"}, "event.time: want an integer"},
		{"entity without name or uid", func(e map[string]any) {
			delete(e["metadata"].(map[string]any)["product"].(map[string]any), "name")
		}, []string{"cloud"}, "event.metadata.product: needs at least one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []map[string]any
			if err := json.Unmarshal(buf.Bytes(), &events); err != nil {
				t.Fatal(err)
			}
			if problems := schema.validate(t, "event", events[0], class, tt.profile); len(problems) > 0 && tt.name != "cloud without the profile" && strings.Contains(strings.Join(problems, "\n"), tt.want) {
				t.Fatalf("the unmutated event already has the problem: %v", problems)
			}
			tt.mutate(events[0])
			problems := strings.Join(schema.validate(t, "event", events[0], class, tt.profile), "\n")
			if !strings.Contains(problems, tt.want) {
				t.Errorf("problems:\n%s\nwant one with %q", problems, tt.want)
			}
		})
	}
}

func TestOCSFExampleGolden(t *testing.T) {
	data, err := os.ReadFile("../cli/testdata/example.ocsf")
	if err != nil {
		t.Fatal(err)
	}
	if events := checkOCSF(t, data); len(events) != 9 {
		t.Errorf("%d events, want the example's 9 judged keys (--all)", len(events))
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
