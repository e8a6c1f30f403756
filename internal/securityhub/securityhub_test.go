package securityhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/report"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const account = "123456789012"

var productARN = report.ASFFProductARN("aws", "us-east-1", account)

func exampleFindings(t *testing.T) []report.ASFFFinding {
	t.Helper()
	f, err := os.Open("../../examples/credential-report.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	audit, err := pipeline.Run(context.Background(), pipeline.Config{Report: f, ReportName: "examples/credential-report.csv"}, pipeline.Clients{})
	if err != nil {
		t.Fatal(err)
	}
	return report.ASFFFindings(audit, now)
}

// TestToSDKSendsTheDocument checks the file and the import agree: what the SDK's own serializer
// sends for ToSDK's findings is, attribute for attribute, the document --format asff writes.
func TestToSDKSendsTheDocument(t *testing.T) {
	findings := exampleFindings(t)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"FailedCount":0,"SuccessCount":5,"FailedFindings":[]}`)
	}))
	defer srv.Close()
	client := securityhub.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	sdk := make([]types.AwsSecurityFinding, len(findings))
	for i, f := range findings {
		sdk[i] = ToSDK(f)
	}
	if _, err := client.BatchImportFindings(context.Background(), &securityhub.BatchImportFindingsInput{Findings: sdk}); err != nil {
		t.Fatal(err)
	}
	var sent, file any
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	doc, err := json.Marshal(report.ASFFDocument{Findings: findings})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc, &file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sent, file) {
		t.Errorf("the SDK sent\n%s\nthe file says\n%s", body, doc)
	}
}

// fakeHub is Security Hub as moto serves it (GetFindings ignores filters), with failures on
// request and a log of the import calls.
type fakeHub struct {
	mu       sync.Mutex
	stored   []types.AwsSecurityFinding
	pageSize int
	refuse   map[string]string // finding ID -> error code
	err      error
	imports  [][]types.AwsSecurityFinding
	times    []time.Time
}

func (h *fakeHub) GetFindings(_ context.Context, in *securityhub.GetFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.GetFindingsOutput, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	end := min(start+h.pageSize, len(h.stored))
	out := &securityhub.GetFindingsOutput{Findings: h.stored[start:end]}
	if end < len(h.stored) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func (h *fakeHub) BatchImportFindings(_ context.Context, in *securityhub.BatchImportFindingsInput, _ ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.times = append(h.times, time.Now())
	if h.err != nil {
		return nil, h.err
	}
	h.imports = append(h.imports, in.Findings)
	out := &securityhub.BatchImportFindingsOutput{}
	for _, f := range in.Findings {
		if code, ok := h.refuse[aws.ToString(f.Id)]; ok {
			out.FailedFindings = append(out.FailedFindings, types.ImportFindingsError{Id: f.Id, ErrorCode: aws.String(code), ErrorMessage: aws.String("refused")})
		}
	}
	out.FailedCount = aws.Int32(int32(len(out.FailedFindings)))
	out.SuccessCount = aws.Int32(int32(len(in.Findings) - len(out.FailedFindings)))
	return out, nil
}

func (h *fakeHub) sent() map[string]types.AwsSecurityFinding {
	out := map[string]types.AwsSecurityFinding{}
	for _, b := range h.imports {
		for _, f := range b {
			out[aws.ToString(f.Id)] = f
		}
	}
	return out
}

// storedFinding is a finding as GetFindings returns it, of productARN unless product is given.
func storedFinding(id, product, generator string) types.AwsSecurityFinding {
	return types.AwsSecurityFinding{
		Id: aws.String(id), ProductArn: aws.String(product), GeneratorId: aws.String(generator), AwsAccountId: aws.String(account),
		CreatedAt: aws.String("2026-01-01T00:00:00.000Z"), UpdatedAt: aws.String("2026-01-02T00:00:00.000Z"), RecordState: types.RecordStateActive,
		Compliance:    &types.Compliance{Status: types.ComplianceStatusFailed},
		ProductFields: map[string]string{"setupkeys/Status": "fail", "aws/securityhub/FindingId": "x"},
		ProcessedAt:   aws.String("2026-01-02T00:00:01.000Z"), Workflow: &types.Workflow{Status: types.WorkflowStatusNotified},
		Resources: []types.Resource{{Type: aws.String("AwsIamAccessKey"), Id: aws.String("AKIA")}},
	}
}

func TestSyncAccount(t *testing.T) {
	findings := exampleFindings(t)
	current := aws.ToString(ToSDK(findings[0]).Id)
	otherProduct := report.ASFFProductARN("aws", "us-east-1", "999999999999")
	stored := func() []types.AwsSecurityFinding {
		return []types.AwsSecurityFinding{
			storedFinding(current, productARN, report.ASFFGeneratorID),              // still failing
			storedFinding("sk-fixed", productARN, report.ASFFGeneratorID),           // fixed since
			storedFinding("sk-other-product", otherProduct, report.ASFFGeneratorID), // another product
			storedFinding("sk-other-generator", productARN, "someone/else"),         // another generator
			func() types.AwsSecurityFinding { // archived already
				f := storedFinding("sk-archived", productARN, report.ASFFGeneratorID)
				f.RecordState = types.RecordStateArchived
				return f
			}(),
		}
	}
	tests := []struct {
		name     string
		complete bool
		refuse   map[string]string
		err      error
		check    func(t *testing.T, hub *fakeHub, res Result)
	}{
		{"imports, archives the fixed one, touches nothing else", true, nil, nil, func(t *testing.T, hub *fakeHub, res Result) {
			sent := hub.sent()
			if res.Imported != 5 || res.Archived != 1 || !res.OK() || len(sent) != 6 {
				t.Fatalf("result %+v, sent %d findings", res, len(sent))
			}
			for _, id := range []string{"sk-other-product", "sk-other-generator", "sk-archived"} {
				if _, ok := sent[id]; ok {
					t.Errorf("%s was re-imported", id)
				}
			}
			fixed := sent["sk-fixed"]
			if fixed.RecordState != types.RecordStateArchived || fixed.Compliance.Status != types.ComplianceStatusPassed || aws.ToString(fixed.UpdatedAt) != "2026-11-27T12:00:00.000Z" {
				t.Errorf("archived finding: state %s compliance %s updated %s", fixed.RecordState, fixed.Compliance.Status, aws.ToString(fixed.UpdatedAt))
			}
			if fixed.Workflow != nil || fixed.ProcessedAt != nil || fixed.ProductFields["aws/securityhub/FindingId"] != "" || fixed.ProductFields["setupkeys/Status"] != "fail" {
				t.Errorf("archived finding keeps Security Hub's own attributes: %+v %v", fixed.Workflow, fixed.ProductFields)
			}
			again := sent[current]
			if aws.ToString(again.CreatedAt) != "2026-01-01T00:00:00.000Z" || again.RecordState != types.RecordStateActive {
				t.Errorf("re-imported finding: created %s state %s, want the stored CreatedAt", aws.ToString(again.CreatedAt), again.RecordState)
			}
		}},
		{"an incomplete audit archives nothing", false, nil, nil, func(t *testing.T, hub *fakeHub, res Result) {
			if _, ok := hub.sent()["sk-fixed"]; ok || res.Archived != 0 || res.Imported != 5 {
				t.Errorf("result %+v", res)
			}
		}},
		{"every refused finding is reported", true, map[string]string{current: "InvalidInput", "sk-fixed": "AccessDenied"}, nil, func(t *testing.T, hub *fakeHub, res Result) {
			if res.OK() || len(res.Failed) != 2 || res.Imported != 4 || res.Archived != 0 {
				t.Fatalf("result %+v", res)
			}
			for _, f := range res.Failed {
				if f.Code == "" || f.Message == "" || (f.ID != current && f.ID != "sk-fixed") {
					t.Errorf("failure %+v", f)
				}
			}
		}},
		{"a call that fails is the account's error", true, nil, errors.New("InvalidAccessException: Account is not subscribed to AWS Security Hub"), func(t *testing.T, hub *fakeHub, res Result) {
			if res.Err == nil || !strings.Contains(res.Err.Error(), "not subscribed") || res.OK() {
				t.Errorf("result %+v", res)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := &fakeHub{stored: stored(), pageSize: 2, refuse: tt.refuse, err: tt.err}
			res := SyncAccount(context.Background(), hub, Account{ID: account, ProductARN: productARN, Findings: findings, Complete: tt.complete}, now)
			tt.check(t, hub, res)
		})
	}
}

// TestSyncAccountBatches checks BatchImportFindings' limits: 100 findings a call, 6 MB a call,
// and its rate (ImportsPerSecond, after a burst as large).
func TestSyncAccountBatches(t *testing.T) {
	one := exampleFindings(t)[0]
	many := func(n int, descriptionBytes int) []report.ASFFFinding {
		out := make([]report.ASFFFinding, n)
		for i := range out {
			out[i] = one
			out[i].Id = fmt.Sprintf("sk-%04d", i)
			out[i].Description = strings.Repeat("x", descriptionBytes)
		}
		return out
	}
	tests := []struct {
		name       string
		findings   []report.ASFFFinding
		wantCalls  int
		wantTooBig int
	}{
		{"250 findings: 100, 100, 50", many(250, 10), 3, 0},
		// 200 KB each (in ASFF the description is at most 1,024 characters, but the batcher
		// must not rely on it): 29 fit in 6 MB.
		{"large findings: 6 MB a call", many(60, 200_000), 3, 0},
		{"a finding over 240 KB is not sent", many(2, 250_000), 0, 2},
		{"1,200 findings: 12 calls, the last two wait for the rate", many(1200, 10), 12, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := &fakeHub{pageSize: 100}
			res := SyncAccount(context.Background(), hub, Account{ID: account, ProductARN: productARN, Findings: tt.findings, Complete: true}, now)
			if len(hub.imports) != tt.wantCalls || len(res.Failed) != tt.wantTooBig || res.Imported != len(tt.findings)-tt.wantTooBig {
				t.Fatalf("%d calls, result %+v; want %d calls, %d too large", len(hub.imports), res, tt.wantCalls, tt.wantTooBig)
			}
			for i, b := range hub.imports {
				size, _ := json.Marshal(b)
				if len(b) > MaxBatchFindings || len(size) > MaxBatchBytes {
					t.Errorf("call %d: %d findings, %d bytes", i, len(b), len(size))
				}
			}
			// More calls than the burst: the ones after it are spaced by the rate.
			if n := len(hub.times); n > ImportsPerSecond {
				extra := n - ImportsPerSecond
				if took := hub.times[n-1].Sub(hub.times[0]); took < time.Duration(extra)*time.Second/ImportsPerSecond*9/10 {
					t.Errorf("%d calls in %v: faster than %d a second", n, took, ImportsPerSecond)
				}
			}
		})
	}
}

func TestNewerThan(t *testing.T) {
	tests := []struct{ old, stamp, want string }{
		{"2026-01-01T00:00:00.000Z", "2026-11-27T12:00:00.000Z", "2026-11-27T12:00:00.000Z"},
		{"2026-11-27T12:00:00.000Z", "2026-11-27T12:00:00.000Z", "2026-11-27T12:00:00.001Z"},
		{"2027-01-01T00:00:00Z", "2026-11-27T12:00:00.000Z", "2027-01-01T00:00:00.001Z"},
		{"not a time", "2026-11-27T12:00:00.000Z", "2026-11-27T12:00:00.000Z"},
	}
	for _, tt := range tests {
		if got := newerThan(aws.String(tt.old), tt.stamp); got != tt.want {
			t.Errorf("newerThan(%s, %s) = %s, want %s", tt.old, tt.stamp, got, tt.want)
		}
	}
}

func TestSyncAccountsEachWithItsClient(t *testing.T) {
	hubs := map[string]*fakeHub{"111111111111": {pageSize: 10}, "222222222222": {pageSize: 10}}
	one := exampleFindings(t)[:1]
	accounts := []Account{{ID: "111111111111", Findings: one}, {ID: "222222222222", Findings: one}, {ID: "333333333333"}}
	results := Sync(context.Background(), accounts, func(id string) (API, error) {
		if h, ok := hubs[id]; ok {
			return h, nil
		}
		return nil, errors.New("AssumeRole denied")
	}, 2, now)
	for i, res := range results {
		if res.AccountID != accounts[i].ID {
			t.Errorf("result %d is for %s", i, res.AccountID)
		}
	}
	if results[0].Imported != 1 || results[1].Imported != 1 || len(hubs["111111111111"].imports) != 1 || results[2].Err == nil {
		t.Errorf("results %+v", results)
	}
}
