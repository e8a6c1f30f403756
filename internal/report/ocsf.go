package report

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys"
)

// OCSFVersion is the OCSF schema the ocsf format follows: 1.6.0, the version AWS Security Hub
// ingests.
const OCSFVersion = "1.6.0"

// OCSF identifiers of a Compliance Finding (category Findings), activity Create.
const (
	ocsfCategoryUID = 2
	ocsfClassUID    = 2003
	ocsfActivityID  = 1
	ocsfTypeUID     = ocsfClassUID*100 + ocsfActivityID
)

// OCSFEvent is one OCSF 1.6.0 Compliance Finding: the verdict on one access key.
type OCSFEvent struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	// Time is when the audit ran, in milliseconds since the epoch.
	Time        int64           `json:"time"`
	SeverityID  int             `json:"severity_id"`
	Severity    string          `json:"severity"`
	StatusID    int             `json:"status_id"`
	Status      string          `json:"status"`
	Message     string          `json:"message"`
	Metadata    ocsfMetadata    `json:"metadata"`
	FindingInfo ocsfFindingInfo `json:"finding_info"`
	Compliance  ocsfCompliance  `json:"compliance"`
	Remediation ocsfRemediation `json:"remediation"`
	Resources   []ocsfResource  `json:"resources"`
	Cloud       ocsfCloud       `json:"cloud"`
	Unmapped    *ocsfUnmapped   `json:"unmapped,omitempty"`
}

type ocsfMetadata struct {
	Version  string      `json:"version"`
	Product  ocsfProduct `json:"product"`
	Profiles []string    `json:"profiles"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

type ocsfFindingInfo struct {
	UID      string       `json:"uid"`
	Title    string       `json:"title"`
	Desc     string       `json:"desc"`
	Analytic ocsfAnalytic `json:"analytic"`
}

type ocsfAnalytic struct {
	UID    string `json:"uid"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

type ocsfCompliance struct {
	Standards    []string `json:"standards"`
	Requirements []string `json:"requirements"`
	Control      string   `json:"control"`
	Desc         string   `json:"desc"`
	StatusID     int      `json:"status_id"`
	Status       string   `json:"status"`
}

type ocsfRemediation struct {
	Desc string `json:"desc"`
}

type ocsfResource struct {
	Type           string     `json:"type"`
	UID            string     `json:"uid,omitempty"`
	Name           string     `json:"name"`
	CloudPartition string     `json:"cloud_partition,omitempty"`
	RoleID         int        `json:"role_id"`
	Role           string     `json:"role"`
	Owner          *ocsfOwner `json:"owner,omitempty"`
	// Data carries the evidence: the finding as the JSON format writes it.
	Data *setupkeys.Finding `json:"data,omitempty"`
}

type ocsfOwner struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

type ocsfCloud struct {
	Provider string      `json:"provider"`
	Account  ocsfAccount `json:"account"`
}

type ocsfAccount struct {
	UID    string `json:"uid"`
	Name   string `json:"name,omitempty"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

// ocsfUnmapped keeps the suppression, which OCSF has no attribute for, in "unmapped".
type ocsfUnmapped struct {
	Suppression *setupkeys.SuppressionNote `json:"suppression"`
}

// OCSF writes the audit as a JSON array of OCSF 1.6.0 Compliance Findings, one per finding of
// the JSON document (fail, review, suppressed, and pass with --all), so a key that passes can
// close the finding an earlier run opened.
func OCSF(w io.Writer, a setupkeys.Audit, opts Options) error {
	doc := NewDocument(a, opts.Now)
	at := a.StartedAt
	if at.IsZero() {
		at = opts.Now
	}
	events := make([]OCSFEvent, 0, len(doc.Findings))
	for _, f := range doc.Findings {
		events = append(events, ocsfEvent(f, at, opts.ToolVersion))
	}
	enc := json.NewEncoder(w)
	if opts.IndentJSON {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(events)
}

func ocsfEvent(f setupkeys.Finding, at time.Time, version string) OCSFEvent {
	sevID, sev := ocsfSeverity(f.Status)
	statusID, status := ocsfFindingStatus(f.Status)
	complianceID, compliance := ocsfComplianceStatus(f)
	keyName := "access key " + f.User + " slot " + strconv.Itoa(f.KeySlot)
	key := ocsfResource{Type: "AWS::IAM::AccessKey", Name: keyName, CloudPartition: partitionOf(f.ARN), RoleID: 1, Role: "Target",
		Owner: &ocsfOwner{Name: f.User, UID: f.ARN}, Data: &f}
	if f.AccessKeyID != nil {
		key.UID = *f.AccessKeyID
	}
	user := ocsfResource{Type: "AWS::IAM::User", UID: f.ARN, Name: f.User, CloudPartition: partitionOf(f.ARN), RoleID: 4, Role: "Related"}
	e := OCSFEvent{
		ActivityID: ocsfActivityID, ActivityName: "Create",
		CategoryUID: ocsfCategoryUID, CategoryName: "Findings",
		ClassUID: ocsfClassUID, ClassName: "Compliance Finding",
		TypeUID: ocsfTypeUID, TypeName: "Compliance Finding: Create",
		Time:       at.UnixMilli(),
		SeverityID: sevID, Severity: sev,
		StatusID: statusID, Status: status,
		Message: findingSentence(f),
		Metadata: ocsfMetadata{Version: OCSFVersion, Product: ocsfProduct{Name: "setupkeys", VendorName: "setupkeys", Version: version},
			Profiles: []string{"cloud"}},
		FindingInfo: ocsfFindingInfo{UID: f.ID, Title: ControlTitle, Desc: f.Reason,
			Analytic: ocsfAnalytic{UID: SARIFRuleID, Name: ControlTitle, TypeID: 1, Type: "Rule"}},
		Compliance:  ocsfComplianceOf(complianceID, compliance),
		Remediation: ocsfRemediation{Desc: Remediation},
		Resources:   []ocsfResource{key, user},
		Cloud:       ocsfCloud{Provider: "AWS", Account: ocsfAccount{UID: f.AccountID, Name: f.AccountName, TypeID: 10, Type: "AWS Account"}},
	}
	if f.Suppression != nil {
		e.Unmapped = &ocsfUnmapped{Suppression: f.Suppression}
	}
	return e
}

func ocsfComplianceOf(statusID int, status string) ocsfCompliance {
	c := ocsfCompliance{Desc: ControlTitle, StatusID: statusID, Status: status}
	var controls []string
	for _, r := range CISReferences {
		c.Standards = append(c.Standards, CISStandard+" "+r.Versions)
		c.Requirements = append(c.Requirements, CISStandard+" "+r.Versions+" "+r.Control)
		controls = append(controls, r.Control+" ("+r.Versions+")")
	}
	c.Control = "CIS AWS Foundations " + strings.Join(controls, ", ")
	return c
}

// ocsfSeverity maps SeverityOf onto OCSF's severity_id; passing and suppressed keys are
// Informational.
func ocsfSeverity(status setupkeys.Status) (int, string) {
	sev, ok := SeverityOf(status)
	switch {
	case !ok:
		return 1, "Informational"
	case sev.Label == "medium":
		return 3, "Medium"
	default:
		return 2, "Low"
	}
}

// ocsfFindingStatus is the finding's workflow status: new while it needs action, Suppressed
// when a suppression covers it, Resolved when the key passes.
func ocsfFindingStatus(status setupkeys.Status) (int, string) {
	switch status {
	case setupkeys.StatusSuppressed:
		return 3, "Suppressed"
	case setupkeys.StatusPass:
		return 4, "Resolved"
	}
	return 1, "New"
}

// ocsfComplianceStatus is the check's result: Fail, Warning for review, Pass; a suppressed key
// keeps the result it had before it was suppressed.
func ocsfComplianceStatus(f setupkeys.Finding) (int, string) {
	status := f.Status
	if status == setupkeys.StatusSuppressed && f.Suppression != nil {
		status = f.Suppression.Was
	}
	switch status {
	case setupkeys.StatusFail:
		return 3, "Fail"
	case setupkeys.StatusReview, setupkeys.StatusPending:
		return 2, "Warning"
	}
	return 1, "Pass"
}

// partitionOf is the ARN's partition: aws, aws-cn, aws-us-gov.
func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" {
		return ""
	}
	return parts[1]
}
