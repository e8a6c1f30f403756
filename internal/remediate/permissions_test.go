package remediate

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// fakePerms answers the simulator and the dry calls from function fields.
type fakePerms struct {
	*fakeIAM
	simulate func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error)
	dry      func(op string) error
	simCalls []*iam.SimulatePrincipalPolicyInput
}

var _ PermissionsAPI = (*fakePerms)(nil)

func (f *fakePerms) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	f.simCalls = append(f.simCalls, in)
	return f.simulate(in)
}
func (f *fakePerms) GenerateCredentialReport(context.Context, *iam.GenerateCredentialReportInput, ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error) {
	return &iam.GenerateCredentialReportOutput{}, f.dry("GenerateCredentialReport")
}
func (f *fakePerms) GetCredentialReport(context.Context, *iam.GetCredentialReportInput, ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error) {
	return &iam.GetCredentialReportOutput{}, f.dry("GetCredentialReport")
}
func (f *fakePerms) ListUsers(context.Context, *iam.ListUsersInput, ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	return &iam.ListUsersOutput{}, f.dry("ListUsers")
}
func (f *fakePerms) GetLoginProfile(context.Context, *iam.GetLoginProfileInput, ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	return &iam.GetLoginProfileOutput{}, f.dry("GetLoginProfile")
}
func (f *fakePerms) GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return &iam.GetUserOutput{}, f.dry("GetUser")
}
func (f *fakePerms) ListUserTags(context.Context, *iam.ListUserTagsInput, ...func(*iam.Options)) (*iam.ListUserTagsOutput, error) {
	return &iam.ListUserTagsOutput{}, f.dry("ListUserTags")
}

func TestCheckPermissionsSimulated(t *testing.T) {
	f := &fakePerms{fakeIAM: newFakeIAM(), simulate: func(in *iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
		var out iam.SimulatePrincipalPolicyOutput
		for _, a := range in.ActionNames {
			d := types.PolicyEvaluationDecisionTypeAllowed
			switch a {
			case "iam:DeleteAccessKey":
				d = types.PolicyEvaluationDecisionTypeExplicitDeny
			case "iam:ListUserTags":
				d = types.PolicyEvaluationDecisionTypeImplicitDeny
			}
			out.EvaluationResults = append(out.EvaluationResults, types.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: d})
		}
		return &out, nil
	}}
	perms, err := CheckPermissions(context.Background(), f, "arn:aws:sts::111111111111:assumed-role/Auditor/alice@example.com", RemediationActions())
	if err != nil {
		t.Fatal(err)
	}
	denied, unknown := Missing(perms)
	check(t, "denied", denied, []string{"iam:ListUserTags", "iam:DeleteAccessKey"})
	check(t, "unknown", unknown, []string(nil))
	for _, p := range perms {
		if p.Action == "sts:GetCallerIdentity" && p.Method != MethodNone || p.Action != "sts:GetCallerIdentity" && p.Method != MethodSimulation {
			t.Errorf("%+v", p)
		}
	}
	if len(f.simCalls) != 2 {
		t.Fatalf("%d simulations", len(f.simCalls))
	}
	check(t, "principal", aws.ToString(f.simCalls[0].PolicySourceArn), "arn:aws:iam::111111111111:role/Auditor")
	check(t, "account-level", f.simCalls[0].ActionNames, []string{"iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:ListUsers"})
	check(t, "account-level resource", f.simCalls[0].ResourceArns, []string{"*"})
	check(t, "user resource", f.simCalls[1].ResourceArns, []string{"arn:aws:iam::111111111111:user/setupkeys-permission-check"})
}

func TestCheckPermissionsDryCalls(t *testing.T) {
	f := &fakePerms{
		fakeIAM: newFakeIAM(),
		simulate: func(*iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
			return nil, apiErr("AccessDenied")
		},
		dry: func(op string) error {
			switch op {
			case "GetCredentialReport":
				return apiErr("ReportNotPresent")
			case "ListUserTags":
				return apiErr("AccessDenied")
			}
			return nil
		},
	}
	f.fakeIAM.before = func(op, _ string) error {
		switch op {
		case "DeleteAccessKey":
			return apiErr("AccessDenied")
		case "GetAccessKeyLastUsed":
			return apiErr("AccessDenied")
		}
		return nil
	}
	perms, err := CheckPermissions(context.Background(), f, "arn:aws:iam::111111111111:user/ops", RemediationActions())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Decision{}
	for _, p := range perms {
		got[p.Action] = p.Decision
		if p.Action != "sts:GetCallerIdentity" && (p.Method != MethodDryCall || !strings.Contains(p.Detail, "simulation unavailable")) {
			t.Errorf("%+v", p)
		}
	}
	check(t, "decisions", got, map[string]Decision{
		"iam:GenerateCredentialReport": DecisionAllowed,
		"iam:GetCredentialReport":      DecisionAllowed,
		"iam:ListUsers":                DecisionAllowed,
		"iam:GetLoginProfile":          DecisionAllowed,
		"iam:GetUser":                  DecisionAllowed,
		"iam:ListAccessKeys":           DecisionAllowed, // the fake answers NoSuchEntity for the probe user
		"iam:GetAccessKeyLastUsed":     DecisionUnknown,
		"iam:ListUserTags":             DecisionDenied,
		"iam:UpdateAccessKey":          DecisionAllowed, // NoSuchEntity
		"iam:DeleteAccessKey":          DecisionDenied,
		"sts:GetCallerIdentity":        DecisionAllowed,
	})
	// The writes were aimed at a user that does not exist.
	for _, c := range f.fakeIAM.calls {
		if strings.HasPrefix(c, "UpdateAccessKey") || strings.HasPrefix(c, "DeleteAccessKey") {
			if !strings.Contains(c, "AKIASETUPKEYSPROBE00") {
				t.Errorf("dry call %q", c)
			}
		}
	}
	if len(f.users) != 0 {
		t.Errorf("dry calls changed something: %v", f.users)
	}
}

func TestSimulationPrincipal(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::111111111111:user/path/ops":                "arn:aws:iam::111111111111:user/path/ops",
		"arn:aws:iam::111111111111:role/Auditor":                 "arn:aws:iam::111111111111:role/Auditor",
		"arn:aws:sts::111111111111:assumed-role/Auditor/session": "arn:aws:iam::111111111111:role/Auditor",
		"arn:aws-cn:sts::111111111111:assumed-role/A/s":          "arn:aws-cn:iam::111111111111:role/A",
		"arn:aws:iam::111111111111:root":                         "",
		"arn:aws:sts::111111111111:federated-user/bob":           "",
		"not an arn": "",
	} {
		got, err := SimulationPrincipal(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("SimulationPrincipal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
