package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
)

// hubFindings reads every finding in the account's Security Hub by Id (moto's GetFindings
// ignores filters, so this is everything).
func hubFindings(t *testing.T, cfg aws.Config) map[string]shtypes.AwsSecurityFinding {
	t.Helper()
	out := map[string]shtypes.AwsSecurityFinding{}
	pages := securityhub.NewGetFindingsPaginator(securityhub.NewFromConfig(cfg), &securityhub.GetFindingsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Findings {
			out[aws.ToString(f.Id)] = f
		}
	}
	return out
}

// findingsOf maps the user of each of this tool's findings to the finding.
func findingsOf(all map[string]shtypes.AwsSecurityFinding) map[string]shtypes.AwsSecurityFinding {
	out := map[string]shtypes.AwsSecurityFinding{}
	for _, f := range all {
		if aws.ToString(f.GeneratorId) == report.ASFFGeneratorID && strings.HasSuffix(aws.ToString(f.ProductArn), "/default") {
			out[aws.ToString(f.Resources[0].Details.AwsIamAccessKey.PrincipalName)] = f
		}
	}
	return out
}

// TestSecurityHubAgainstMoto runs `audit --org --security-hub` twice against moto: the first run
// imports each account's findings into that account's Security Hub; a key deactivated between
// the runs gets its finding archived as resolved by the second, while the other findings stay
// and another product's finding is left exactly as it was.
func TestSecurityHubAgainstMoto(t *testing.T) {
	srv := moto.Shared(t)
	ctx := context.Background()
	mgmt := srv.Config(t, moto.DefaultAccountID)
	orgs := organizations.NewFromConfig(mgmt)
	if _, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	created, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("dev"), Email: aws.String("dev@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	memberID := aws.ToString(created.CreateAccountStatus.AccountId)
	member := srv.Config(t, memberID)
	var bobKey string
	srv.InPast(t, 200*24*time.Hour, func() {
		moto.CreateConsoleUser(t, mgmt, "alice")
		moto.CreateAccessKey(t, mgmt, "alice")
		moto.CreateConsoleUser(t, mgmt, "bob")
		bobKey = aws.ToString(moto.CreateAccessKey(t, mgmt, "bob").AccessKeyId)
		moto.CreateConsoleUser(t, member, "carol")
		moto.CreateAccessKey(t, member, "carol")
	})
	// Another product's finding in the management account: never to be touched.
	foreign := shtypes.AwsSecurityFinding{
		SchemaVersion: aws.String(report.ASFFSchemaVersion), Id: aws.String("guardduty-1"),
		ProductArn:   aws.String("arn:aws:securityhub:us-east-1::product/aws/guardduty"),
		GeneratorId:  aws.String(report.ASFFGeneratorID), // even with our generator
		AwsAccountId: aws.String(moto.DefaultAccountID), CreatedAt: aws.String("2026-01-01T00:00:00Z"), UpdatedAt: aws.String("2026-01-01T00:00:00Z"),
		Title: aws.String("other"), Description: aws.String("other"), Types: []string{"TTPs"}, Severity: &shtypes.Severity{Label: shtypes.SeverityLabelHigh},
		Resources:  []shtypes.Resource{{Type: aws.String("AwsIamUser"), Id: aws.String("arn:aws:iam::123456789012:user/alice")}},
		Compliance: &shtypes.Compliance{Status: shtypes.ComplianceStatusFailed}, RecordState: shtypes.RecordStateActive,
	}
	if _, err := securityhub.NewFromConfig(mgmt).BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{foreign}}); err != nil {
		t.Fatal(err)
	}
	foreignBefore := hubFindings(t, mgmt)["guardduty-1"]
	useEnv(t, srv, moto.DefaultAccountID)

	code, _, errOut := runCLI(t, "", "audit", "--org", "--quiet", "--security-hub", "--format", "json")
	if code != ExitFailed {
		t.Fatalf("first run: exit %d, want 3\n%s", code, errOut)
	}
	for _, want := range []string{"account " + moto.DefaultAccountID + ": 2 imported, 0 resolved archived", "account " + memberID + ": 1 imported, 0 resolved archived"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	first := findingsOf(hubFindings(t, mgmt))
	memberFirst := findingsOf(hubFindings(t, member))
	if len(first) != 2 || first["alice"].RecordState != shtypes.RecordStateActive || first["bob"].Compliance.Status != shtypes.ComplianceStatusFailed {
		t.Fatalf("management account's Security Hub after the first run: %v", first)
	}
	if len(memberFirst) != 1 || aws.ToString(memberFirst["carol"].AwsAccountId) != memberID ||
		aws.ToString(memberFirst["carol"].ProductArn) != report.ASFFProductARN("aws", "us-east-1", memberID) {
		t.Fatalf("member's Security Hub: %v (carol's finding must be imported from the member account)", memberFirst)
	}
	if key := first["bob"].Resources[0].Details.AwsIamAccessKey; aws.ToString(key.AccessKeyId) != bobKey {
		t.Errorf("bob's finding names key %s, want %s", aws.ToString(key.AccessKeyId), bobKey)
	}

	// Fix bob's key.
	if _, err := iam.NewFromConfig(mgmt).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(bobKey), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "", "audit", "--org", "--quiet", "--security-hub")
	if code != ExitFailed {
		t.Fatalf("second run: exit %d, want 3\n%s", code, errOut)
	}
	if want := "account " + moto.DefaultAccountID + ": 1 imported, 1 resolved archived"; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	all := hubFindings(t, mgmt)
	second := findingsOf(all)
	bob, alice := second["bob"], second["alice"]
	if bob.RecordState != shtypes.RecordStateArchived || bob.Compliance.Status != shtypes.ComplianceStatusPassed || aws.ToString(bob.UpdatedAt) <= aws.ToString(first["bob"].UpdatedAt) {
		t.Errorf("bob's fixed key: state %s, compliance %s, updated %s (was %s); want ARCHIVED, PASSED, newer", bob.RecordState, bob.Compliance.Status, aws.ToString(bob.UpdatedAt), aws.ToString(first["bob"].UpdatedAt))
	}
	if alice.RecordState != shtypes.RecordStateActive || alice.Compliance.Status != shtypes.ComplianceStatusFailed || aws.ToString(alice.CreatedAt) != aws.ToString(first["alice"].CreatedAt) {
		t.Errorf("alice's key still fails: state %s, compliance %s, created %s (was %s)", alice.RecordState, alice.Compliance.Status, aws.ToString(alice.CreatedAt), aws.ToString(first["alice"].CreatedAt))
	}
	if !reflect.DeepEqual(all["guardduty-1"], foreignBefore) {
		t.Errorf("another product's finding changed:\n%+v\nwas\n%+v", all["guardduty-1"], foreignBefore)
	}
	if carol := findingsOf(hubFindings(t, member))["carol"]; carol.RecordState != shtypes.RecordStateActive {
		t.Errorf("carol's finding in the member account: %s", carol.RecordState)
	}
}

// TestSecurityHubRefusedFindingsExit1 puts a proxy in front of moto that refuses one finding of
// each import, as Security Hub does with FailedFindings (moto refuses none of ours): each is
// named on stderr and the run exits 1, although keys failed.
func TestSecurityHubRefusedFindingsExit1(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	srv.InPast(t, 200*24*time.Hour, func() {
		moto.CreateConsoleUser(t, cfg, "alice")
		moto.CreateAccessKey(t, cfg, "alice")
	})
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	toMoto := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/findings/import" {
			var in struct{ Findings []struct{ Id string } }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Findings) == 0 {
				http.Error(w, fmt.Sprintf("proxy: %v", err), http.StatusBadRequest)
				return
			}
			id := in.Findings[0].Id
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"FailedCount":1,"SuccessCount":0,"FailedFindings":[{"Id":%q,"ErrorCode":"InvalidInput","ErrorMessage":"Finding does not adhere to Amazon Finding Format."}]}`, id)
			return
		}
		toMoto.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	useEnv(t, srv, "123456789012")
	t.Setenv("AWS_ENDPOINT_URL", proxy.URL)

	code, _, errOut := runCLI(t, "", "audit", "--security-hub", "--format", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{"0 imported, 0 resolved archived, 1 not imported", "not imported: sk-", "InvalidInput: Finding does not adhere to Amazon Finding Format.", "did not get every finding"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
