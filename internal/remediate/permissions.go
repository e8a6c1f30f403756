package remediate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys/internal/iamx"
)

// The actions each role needs. The audit and remediate policies of package policies grant
// exactly these (a test holds them to it).
var (
	auditActions = []string{
		"iam:GenerateCredentialReport",
		"iam:GetCredentialReport",
		"iam:ListUsers",
		"iam:GetLoginProfile",
		"iam:GetUser",
		"iam:ListAccessKeys",
		"iam:GetAccessKeyLastUsed",
		"iam:ListUserTags",
		"sts:GetCallerIdentity",
	}
	// sinceReportActions are what `audit --since-report` reads without --cloudtrail.
	sinceReportActions = []string{
		"cloudtrail:LookupEvents",
	}
	remediationOnlyActions = []string{
		"iam:UpdateAccessKey",
		"iam:DeleteAccessKey",
	}
)

// AuditActions are the actions `setupkeys audit` and `plan` need, `audit --since-report`
// included.
func AuditActions() []string {
	return append(append([]string(nil), auditActions...), sinceReportActions...)
}

// MemberAuditActions are the audit's actions in each account of a multi-account run: the
// audit's without --since-report's, which audits one account only.
func MemberAuditActions() []string { return append([]string(nil), auditActions...) }

// RemediationActions are the actions `apply` and `rollback` need: the audit's IAM reads (apply
// re-judges every key) and the writes.
func RemediationActions() []string {
	return append(append([]string(nil), auditActions...), remediationOnlyActions...)
}

// Decision is whether the caller may perform an action.
type Decision string

const (
	DecisionAllowed Decision = "allowed"
	DecisionDenied  Decision = "denied"
	// DecisionUnknown: neither simulation nor a dry call could tell.
	DecisionUnknown Decision = "unknown"
)

// Method says how a decision was reached.
type Method string

const (
	MethodSimulation Method = "simulation"
	MethodDryCall    Method = "dry-call"
	// MethodNone: no check was needed (sts:GetCallerIdentity needs no permission) or possible.
	MethodNone Method = "none"
)

// Permission is the verdict on one action for the caller.
type Permission struct {
	Action   string   `json:"action"`
	Decision Decision `json:"decision"`
	Method   Method   `json:"method"`
	Detail   string   `json:"detail,omitempty"`
}

// Missing returns the actions that are not known to be allowed: denied first, then unknown.
func Missing(perms []Permission) (denied, unknown []string) {
	for _, p := range perms {
		switch p.Decision {
		case DecisionDenied:
			denied = append(denied, p.Action)
		case DecisionUnknown:
			unknown = append(unknown, p.Action)
		}
	}
	return denied, unknown
}

// PermissionsAPI is what CheckPermissions calls: the policy simulator, and the calls it makes
// dry when the simulator cannot be used. *iam.Client satisfies it.
type PermissionsAPI interface {
	iam.SimulatePrincipalPolicyAPIClient
	GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
	ListUsers(ctx context.Context, in *iam.ListUsersInput, optFns ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	ListUserTags(ctx context.Context, in *iam.ListUserTagsInput, optFns ...func(*iam.Options)) (*iam.ListUserTagsOutput, error)
	IAM
}

var _ PermissionsAPI = (*iam.Client)(nil)

// CloudTrailProbe is what a PermissionsAPI also has when CheckPermissions may make the dry call
// of cloudtrail:LookupEvents (a read of one event); without it only the simulator decides it.
type CloudTrailProbe interface {
	LookupEvents(ctx context.Context, in *cloudtrail.LookupEventsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error)
}

// CheckPermissions tells which of actions the caller (callerARN, from sts:GetCallerIdentity)
// may perform. It asks iam:SimulatePrincipalPolicy first, user-level actions against a user ARN
// of the caller's account. When the simulator cannot be used (the caller may not call it, the
// caller is root or a federated user, or an assumed role's path is not "/"), it makes dry
// calls instead: reads that change nothing, and writes aimed at a user that does not exist, so
// IAM answers NoSuchEntity when the caller may act and AccessDenied when not. An action neither
// can decide is DecisionUnknown. The simulator sees identity policies and permissions
// boundaries; service control policies can still deny what it allows. When the credentials
// themselves cannot be had (a role that cannot be assumed), that is the error.
func CheckPermissions(ctx context.Context, client PermissionsAPI, callerARN string, actions []string) ([]Permission, error) {
	account := accountOfARN(callerARN)
	perms := make([]Permission, len(actions))
	var toCheck []int
	for i, a := range actions {
		perms[i] = Permission{Action: a, Decision: DecisionUnknown, Method: MethodNone}
		if a == "sts:GetCallerIdentity" {
			perms[i] = Permission{Action: a, Decision: DecisionAllowed, Method: MethodNone, Detail: "needs no permission"}
			continue
		}
		toCheck = append(toCheck, i)
	}
	if len(toCheck) == 0 {
		return perms, nil
	}
	simErr := simulate(ctx, client, callerARN, account, perms, toCheck)
	if simErr == nil {
		return perms, nil
	}
	if err := ctx.Err(); err != nil {
		return perms, err
	}
	if assumeRoleFailed(simErr) {
		// No credentials, no call can tell anything.
		return perms, simErr
	}
	note := "simulation unavailable (" + simErr.Error() + ")"
	probe := newProbe()
	for _, i := range toCheck {
		d, detail := probe.try(ctx, client, perms[i].Action)
		perms[i] = Permission{Action: perms[i].Action, Decision: d, Method: MethodDryCall, Detail: joinDetail(detail, note)}
		if d == DecisionUnknown && detail == "" {
			perms[i].Method = MethodNone
		}
	}
	return perms, ctx.Err()
}

func joinDetail(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// accountLevel lists the actions whose resource is "*" rather than a user.
var accountLevel = map[string]bool{
	"cloudtrail:LookupEvents":      true,
	"iam:GenerateCredentialReport": true,
	"iam:GetCredentialReport":      true,
	"iam:ListUsers":                true,
}

func simulate(ctx context.Context, client PermissionsAPI, callerARN, account string, perms []Permission, toCheck []int) error {
	principal, err := SimulationPrincipal(callerARN)
	if err != nil {
		return err
	}
	var global, perUser []string
	for _, i := range toCheck {
		if accountLevel[perms[i].Action] {
			global = append(global, perms[i].Action)
		} else {
			perUser = append(perUser, perms[i].Action)
		}
	}
	results := map[string]types.EvaluationResult{}
	run := func(actions []string, resource string) error {
		if len(actions) == 0 {
			return nil
		}
		pages := iam.NewSimulatePrincipalPolicyPaginator(client, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(principal),
			ActionNames:     actions,
			ResourceArns:    []string{resource},
		})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, r := range out.EvaluationResults {
				results[strings.ToLower(aws.ToString(r.EvalActionName))] = r
			}
		}
		return nil
	}
	if err := run(global, "*"); err != nil {
		return err
	}
	if err := run(perUser, "arn:"+partitionOfARN(callerARN)+":iam::"+account+":user/setupkeys-permission-check"); err != nil {
		return err
	}
	for _, i := range toCheck {
		r, ok := results[strings.ToLower(perms[i].Action)]
		if !ok {
			perms[i] = Permission{Action: perms[i].Action, Decision: DecisionUnknown, Method: MethodSimulation, Detail: "the simulator returned no result for it"}
			continue
		}
		p := Permission{Action: perms[i].Action, Method: MethodSimulation, Detail: string(r.EvalDecision)}
		switch r.EvalDecision {
		case types.PolicyEvaluationDecisionTypeAllowed:
			p.Decision, p.Detail = DecisionAllowed, ""
		case types.PolicyEvaluationDecisionTypeExplicitDeny, types.PolicyEvaluationDecisionTypeImplicitDeny:
			p.Decision = DecisionDenied
		default:
			p.Decision = DecisionUnknown
		}
		perms[i] = p
	}
	return nil
}

// SimulationPrincipal returns the ARN iam:SimulatePrincipalPolicy accepts for a caller ARN: a
// user's or role's ARN as is; an assumed-role session's role, assuming the role's path is "/"
// (a session ARN does not carry the path). Root and federated users cannot be simulated.
func SimulationPrincipal(callerARN string) (string, error) {
	parts := strings.SplitN(callerARN, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return "", fmt.Errorf("%q is not an ARN", callerARN)
	}
	partition, service, account, resource := parts[1], parts[2], parts[4], parts[5]
	switch {
	case service == "iam" && resource == "root":
		return "", errors.New("the root user cannot be simulated")
	case service == "iam" && (strings.HasPrefix(resource, "user/") || strings.HasPrefix(resource, "role/")):
		return callerARN, nil
	case service == "sts" && strings.HasPrefix(resource, "assumed-role/"):
		rest := strings.TrimPrefix(resource, "assumed-role/")
		role, _, ok := strings.Cut(rest, "/")
		if !ok || role == "" {
			return "", fmt.Errorf("cannot read the role from %q", callerARN)
		}
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, account, role), nil
	}
	return "", fmt.Errorf("%q cannot be simulated", callerARN)
}

func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func partitionOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[1] == "" {
		return "aws"
	}
	return parts[1]
}

// probe makes dry calls against a user name that does not exist.
type probe struct {
	user  string
	keyID string
}

func newProbe() probe {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return probe{user: "setupkeys-permission-probe-" + hex.EncodeToString(b[:]), keyID: "AKIASETUPKEYSPROBE00"}
}

// try makes the dry call for action and reads the answer.
func (p probe) try(ctx context.Context, c PermissionsAPI, action string) (Decision, string) {
	user := aws.String(p.user)
	var err error
	switch action {
	case "iam:GenerateCredentialReport":
		_, err = c.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
	case "iam:GetCredentialReport":
		_, err = c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	case "iam:ListUsers":
		_, err = c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1)})
	case "iam:GetLoginProfile":
		_, err = c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: user})
	case "iam:GetUser":
		_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: user})
	case "iam:ListAccessKeys":
		_, err = c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: user})
	case "iam:ListUserTags":
		_, err = c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: user})
	case "iam:UpdateAccessKey":
		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: user, AccessKeyId: aws.String(p.keyID), Status: types.StatusTypeInactive})
	case "iam:DeleteAccessKey":
		_, err = c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: user, AccessKeyId: aws.String(p.keyID)})
	case "iam:GetAccessKeyLastUsed":
		// IAM may answer AccessDenied for a key that does not exist, so only success decides.
		_, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(p.keyID)})
		if err == nil || iamx.IsNoSuchEntity(err) {
			return DecisionAllowed, "dry call answered"
		}
		return DecisionUnknown, "dry call inconclusive: " + errorCode(err)
	case "cloudtrail:LookupEvents":
		ct, ok := c.(CloudTrailProbe)
		if !ok {
			return DecisionUnknown, "no CloudTrail client to make the dry call; only audit --since-report without --cloudtrail needs it"
		}
		_, err = ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)})
	default:
		return DecisionUnknown, ""
	}
	switch {
	case err == nil:
		return DecisionAllowed, "dry call succeeded"
	case isAccessDenied(err):
		return DecisionDenied, "dry call: " + errorCode(err)
	case iamx.IsNoSuchEntity(err):
		return DecisionAllowed, "dry call reached IAM's existence check (NoSuchEntity)"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ReportNotPresent", "ReportExpired", "ReportInProgress", "LimitExceeded":
			return DecisionAllowed, "dry call answered " + ae.ErrorCode()
		}
	}
	return DecisionUnknown, "dry call failed: " + err.Error()
}

func isAccessDenied(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return true
	}
	return false
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return err.Error()
}
