package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys"
)

// The AWS Security Finding Format (ASFF) as Security Hub's BatchImportFindings takes it. The
// types mirror aws-sdk-go-v2's service/securityhub/types field for field (same names, same
// nesting), with JSON tags so that a file carries only what is set; internal/securityhub turns
// them into the SDK's types for the import, and its tests check that the SDK's serializer sends
// exactly this document.

const (
	// ASFFSchemaVersion is the only ASFF version there is.
	ASFFSchemaVersion = "2018-10-08"
	// ASFFGeneratorID names the check that made a finding: stable, so that a later run can find
	// this tool's findings again (with the ProductArn) and archive the resolved ones.
	ASFFGeneratorID = "setupkeys/unused-setup-access-key"
	// ASFFDefaultRegion is the region of a run that has none (a report file without --region).
	ASFFDefaultRegion = "us-east-1"
	// asffMaxDescription, asffMaxTitle and asffMaxRecommendation are ASFF's length limits.
	asffMaxDescription    = 1024
	asffMaxTitle          = 256
	asffMaxRecommendation = 512
)

// asffTypes are the finding's types in ASFF's namespace/category/classifier taxonomy.
var asffTypes = []string{
	"Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
	"Software and Configuration Checks/AWS Security Best Practices",
}

// ASFFDocument is what --format asff writes: the body of a BatchImportFindings call, so that
// `aws securityhub batch-import-findings --cli-input-json file://FILE` imports it (up to 100
// findings a call).
type ASFFDocument struct {
	Findings []ASFFFinding `json:"Findings"`
}

// ASFFFinding is one AwsSecurityFinding.
type ASFFFinding struct {
	SchemaVersion         string                    `json:"SchemaVersion"`
	Id                    string                    `json:"Id"`
	ProductArn            string                    `json:"ProductArn"`
	ProductName           string                    `json:"ProductName"`
	CompanyName           string                    `json:"CompanyName"`
	GeneratorId           string                    `json:"GeneratorId"`
	AwsAccountId          string                    `json:"AwsAccountId"`
	AwsAccountName        string                    `json:"AwsAccountName,omitempty"`
	Region                string                    `json:"Region"`
	Types                 []string                  `json:"Types"`
	CreatedAt             string                    `json:"CreatedAt"`
	UpdatedAt             string                    `json:"UpdatedAt"`
	Severity              ASFFSeverity              `json:"Severity"`
	Title                 string                    `json:"Title"`
	Description           string                    `json:"Description"`
	Remediation           ASFFRemediation           `json:"Remediation"`
	ProductFields         map[string]string         `json:"ProductFields"`
	Resources             []ASFFResource            `json:"Resources"`
	Compliance            ASFFCompliance            `json:"Compliance"`
	FindingProviderFields ASFFFindingProviderFields `json:"FindingProviderFields"`
	RecordState           string                    `json:"RecordState"`
}

// ASFFSeverity is a finding's severity label.
type ASFFSeverity struct {
	Label string `json:"Label"`
}

// ASFFRemediation says how to fix the finding.
type ASFFRemediation struct {
	Recommendation ASFFRecommendation `json:"Recommendation"`
}

// ASFFRecommendation is the text (and a link) of a remediation.
type ASFFRecommendation struct {
	Text string `json:"Text"`
	Url  string `json:"Url,omitempty"`
}

// ASFFResource is one resource a finding is about.
type ASFFResource struct {
	Type      string               `json:"Type"`
	Id        string               `json:"Id"`
	Partition string               `json:"Partition"`
	Region    string               `json:"Region"`
	Details   *ASFFResourceDetails `json:"Details,omitempty"`
}

// ASFFResourceDetails holds the details of an access key or of a user.
type ASFFResourceDetails struct {
	AwsIamAccessKey *ASFFAccessKeyDetails `json:"AwsIamAccessKey,omitempty"`
	AwsIamUser      *ASFFUserDetails      `json:"AwsIamUser,omitempty"`
}

// ASFFAccessKeyDetails are an AwsIamAccessKey resource's details. PrincipalName, not the
// deprecated UserName.
type ASFFAccessKeyDetails struct {
	AccessKeyId   string `json:"AccessKeyId,omitempty"`
	AccountId     string `json:"AccountId"`
	PrincipalName string `json:"PrincipalName"`
	PrincipalType string `json:"PrincipalType"`
	CreatedAt     string `json:"CreatedAt"`
	Status        string `json:"Status"`
}

// ASFFUserDetails are an AwsIamUser resource's details.
type ASFFUserDetails struct {
	UserName   string `json:"UserName"`
	Path       string `json:"Path"`
	CreateDate string `json:"CreateDate"`
}

// ASFFCompliance is the finding's compliance status and the CIS controls it relates to.
type ASFFCompliance struct {
	Status              string   `json:"Status"`
	RelatedRequirements []string `json:"RelatedRequirements"`
}

// ASFFFindingProviderFields is where a provider's severity and types belong since Security Hub
// lets users override the top-level ones.
type ASFFFindingProviderFields struct {
	Severity ASFFSeverity `json:"Severity"`
	Types    []string     `json:"Types"`
}

// ASFFProductARN is the ProductArn of a custom integration: every account imports its own
// findings under its own default product.
func ASFFProductARN(partition, region, account string) string {
	return "arn:" + partition + ":securityhub:" + region + ":" + account + ":product/" + account + "/default"
}

// ASFFTime is the format of ASFF's time stamps (ISO 8601, UTC, milliseconds: two imports a
// second apart must carry different UpdatedAt).
const ASFFTime = "2006-01-02T15:04:05.000Z"

// ASFF writes the fail and review findings of a as one ASFF document. Pass and suppressed keys
// have nothing to report (a later --security-hub import archives their earlier findings).
func ASFF(w io.Writer, a setupkeys.Audit, opts Options) error {
	findings := ASFFFindings(a, opts.Now)
	if len(findings) == 0 {
		empty := "{\"Findings\":[]}\n"
		if opts.IndentJSON {
			empty = "{\n  \"Findings\": []\n}\n"
		}
		_, err := io.WriteString(w, empty)
		return err
	}
	// Finding by finding: encoding the whole document at once holds it, and its indented copy,
	// in memory (10,000 findings are 35 MB).
	open, sep, end, prefix, indent := `{"Findings":[`, ",", "]}\n", "", ""
	if opts.IndentJSON {
		open, sep, end, prefix, indent = "{\n  \"Findings\": [\n    ", ",\n    ", "\n  ]\n}\n", "    ", "  "
	}
	if _, err := io.WriteString(w, open); err != nil {
		return err
	}
	for i, f := range findings {
		var b []byte
		var err error
		if opts.IndentJSON {
			b, err = json.MarshalIndent(f, prefix, indent)
		} else {
			b, err = json.Marshal(f)
		}
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, end)
	return err
}

// ASFFFindings turns the fail and review findings of a into ASFF findings, created and updated
// at now, in the order of the JSON output. The region is the audit's (ASFFDefaultRegion when it
// has none); the partition is the one of each user's ARN.
func ASFFFindings(a setupkeys.Audit, now time.Time) []ASFFFinding {
	region := a.Region
	if region == "" {
		region = ASFFDefaultRegion
	}
	stamp := now.UTC().Format(ASFFTime)
	out := []ASFFFinding{}
	for _, f := range NewDocument(a, now).Findings {
		if f.Status != setupkeys.StatusFail && f.Status != setupkeys.StatusReview {
			continue
		}
		out = append(out, asffFinding(f, region, stamp))
	}
	return out
}

func asffFinding(f setupkeys.Finding, region, stamp string) ASFFFinding {
	partition := partitionOf(f.ARN)
	if partition == "" {
		partition = "aws"
	}
	sev, _ := SeverityOf(f.Status)
	severity, compliance := strings.ToUpper(sev.Label), "FAILED"
	if f.Status == setupkeys.StatusReview {
		compliance = "WARNING"
	}
	keyID := ""
	if f.AccessKeyID != nil {
		keyID = *f.AccessKeyID
	}
	keyResource := keyID
	if keyResource == "" {
		// A report file does not carry the key's ID; the user and slot name it.
		keyResource = f.ARN + "/access_key_" + strconv.Itoa(f.KeySlot)
	}
	fields := map[string]string{
		"setupkeys/FindingId":  f.ID,
		"setupkeys/Status":     string(f.Status),
		"setupkeys/KeySlot":    strconv.Itoa(f.KeySlot),
		"setupkeys/GapSeconds": strconv.FormatInt(f.GapSeconds, 10),
		"setupkeys/Source":     string(f.Source.Kind),
		"setupkeys/Reason":     f.Reason,
	}
	return ASFFFinding{
		SchemaVersion:  ASFFSchemaVersion,
		Id:             f.ID,
		ProductArn:     ASFFProductARN(partition, region, f.AccountID),
		ProductName:    "setupkeys",
		CompanyName:    "setupkeys",
		GeneratorId:    ASFFGeneratorID,
		AwsAccountId:   f.AccountID,
		AwsAccountName: f.AccountName,
		Region:         region,
		Types:          asffTypes,
		CreatedAt:      stamp,
		UpdatedAt:      stamp,
		Severity:       ASFFSeverity{Label: severity},
		Title:          truncateRunes(ControlTitle+": "+f.User, asffMaxTitle),
		Description:    truncateRunes(asffDescription(f, keyID), asffMaxDescription),
		Remediation: ASFFRemediation{Recommendation: ASFFRecommendation{
			Text: truncateRunes(asffRecommendation(f), asffMaxRecommendation),
			Url:  "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
		}},
		ProductFields: fields,
		Resources: []ASFFResource{
			{Type: "AwsIamAccessKey", Id: keyResource, Partition: partition, Region: region, Details: &ASFFResourceDetails{AwsIamAccessKey: &ASFFAccessKeyDetails{
				AccessKeyId: keyID, AccountId: f.AccountID, PrincipalName: f.User, PrincipalType: "IAMUser",
				CreatedAt: f.KeyCreated.UTC().Format(time.RFC3339), Status: "Active",
			}}},
			{Type: "AwsIamUser", Id: f.ARN, Partition: partition, Region: region, Details: &ASFFResourceDetails{AwsIamUser: &ASFFUserDetails{
				UserName: f.User, Path: setupkeys.UserPathFromARN(f.ARN), CreateDate: f.UserCreated.UTC().Format(time.RFC3339),
			}}},
		},
		Compliance:            ASFFCompliance{Status: compliance, RelatedRequirements: cisRequirements()},
		FindingProviderFields: ASFFFindingProviderFields{Severity: ASFFSeverity{Label: severity}, Types: asffTypes},
		RecordState:           "ACTIVE",
	}
}

func asffDescription(f setupkeys.Finding, keyID string) string {
	key := "an access key"
	if keyID != "" {
		key = "access key " + keyID
	}
	return fmt.Sprintf("IAM user %s (%s) has %s in slot %d, created %s (the user was created %s): %s. "+
		"CIS AWS Foundations Benchmark: do not set up access keys during initial user setup for IAM users that have a console password. Data: %s.",
		f.User, f.ARN, key, f.KeySlot, f.KeyCreated.UTC().Format(time.RFC3339), f.UserCreated.UTC().Format(time.RFC3339), f.Reason, asffSource(f.Source))
}

func asffSource(src setupkeys.Source) string {
	switch src.Kind {
	case setupkeys.SourceReportFile:
		return "credential report file " + src.File
	case setupkeys.SourceLiveReport:
		if src.GeneratedTime != nil {
			return "live credential report generated " + src.GeneratedTime.UTC().Format(time.RFC3339)
		}
		return "live credential report"
	case setupkeys.SourceLiveAPI:
		return "live IAM API"
	}
	return string(src.Kind)
}

func asffRecommendation(f setupkeys.Finding) string {
	if f.Status == setupkeys.StatusReview {
		// A review finding is planned only on request.
		return "IAM did not track key use before 2015-04-22: confirm the key is not needed, then plan with --include-review. " + Remediation
	}
	return Remediation
}

// cisRequirements names the control in each CIS AWS Foundations Benchmark version, as Security
// Hub writes requirements.
func cisRequirements() []string {
	reqs := make([]string, len(CISVersions))
	for i, c := range CISVersions {
		reqs[i] = CISStandard + " " + c.Version + "/" + c.Control
	}
	return reqs
}
