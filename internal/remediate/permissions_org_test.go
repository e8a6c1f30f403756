package remediate

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys/internal/org"
)

// fakeOrgs answers the Organizations reads with err, counting them by operation.
type fakeOrgs struct {
	err   error
	calls map[string]int
}

func (f *fakeOrgs) ListAccounts(context.Context, *organizations.ListAccountsInput, ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.calls["ListAccounts"]++
	return &organizations.ListAccountsOutput{}, f.err
}
func (f *fakeOrgs) ListAccountsForParent(context.Context, *organizations.ListAccountsForParentInput, ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.calls["ListAccountsForParent"]++
	return &organizations.ListAccountsForParentOutput{}, f.err
}
func (f *fakeOrgs) ListOrganizationalUnitsForParent(context.Context, *organizations.ListOrganizationalUnitsForParentInput, ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	f.calls["ListOrganizationalUnitsForParent"]++
	return &organizations.ListOrganizationalUnitsForParentOutput{}, f.err
}

func TestCheckOrganizations(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}
	notInUse := &smithy.GenericAPIError{Code: "AWSOrganizationsNotInUseException", Message: "no org"}
	for _, tt := range []struct {
		name    string
		sel     org.Selection
		listing bool
		err     error
		want    []string // "action decision"
	}{
		{"whole organization", org.Selection{}, true, nil, []string{"organizations:ListAccounts allowed"}},
		{"denied", org.Selection{}, true, denied, []string{"organizations:ListAccounts denied"}},
		{"no organization", org.Selection{}, true, notInUse, []string{"organizations:ListAccounts unknown"}},
		{"named accounts, no listing", org.Selection{Accounts: []string{"111111111111"}}, false, nil, nil},
		{"OUs", org.Selection{OUs: []string{"ou-ab12-cd34ef56"}}, true, nil, []string{"organizations:ListAccountsForParent allowed", "organizations:ListOrganizationalUnitsForParent allowed"}},
		{"OUs denied", org.Selection{OUs: []string{"ou-ab12-cd34ef56"}}, true, denied, []string{"organizations:ListAccountsForParent denied", "organizations:ListOrganizationalUnitsForParent denied"}},
		{"network", org.Selection{}, true, errors.New("dial tcp: refused"), []string{"organizations:ListAccounts unknown"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeOrgs{err: tt.err, calls: map[string]int{}}
			var got []string
			for _, p := range CheckOrganizations(context.Background(), api, tt.sel, tt.listing) {
				got = append(got, p.Action+" "+string(p.Decision))
				if p.Method != MethodDryCall || p.Detail == "" {
					t.Errorf("%+v", p)
				}
				if api.calls[p.Action[len("organizations:"):]] != 1 {
					t.Errorf("%s: calls %v", p.Action, api.calls)
				}
			}
			check(t, "permissions", got, tt.want)
		})
	}
}

// The SDK's error for a call whose assumed-role credentials were refused carries the STS
// AssumeRole operation error under the call's own; a call refused by IAM does not.
func TestAssumeRoleFailed(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"}
	assume := &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: denied}
	viaCreds := &smithy.OperationError{ServiceID: "IAM", OperationName: "ListUsers",
		Err: fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", assume)}
	iamDenied := &smithy.OperationError{ServiceID: "IAM", OperationName: "ListUsers", Err: denied}
	for _, tt := range []struct {
		err  error
		want bool
	}{{viaCreds, true}, {assume, true}, {iamDenied, false}, {nil, false}, {errors.New("x"), false}} {
		if got := assumeRoleFailed(tt.err); got != tt.want {
			t.Errorf("assumeRoleFailed(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if p := assumeDecision("arn:aws:iam::222222222222:role/R", viaCreds); p.Decision != DecisionDenied || p.Action != "sts:AssumeRole" {
		t.Errorf("%+v", p)
	}
}

// cloudTrailPerms is fakePerms with LookupEvents, so that CheckPermissions makes its dry call.
type cloudTrailPerms struct {
	*fakePerms
	lookupErr error
}

func (c cloudTrailPerms) LookupEvents(context.Context, *cloudtrail.LookupEventsInput, ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error) {
	return &cloudtrail.LookupEventsOutput{}, c.lookupErr
}

// Without the simulator, cloudtrail:LookupEvents is decided by a dry read when the client has
// LookupEvents, and unknown otherwise.
func TestCheckPermissionsLookupEvents(t *testing.T) {
	noSim := func() *fakePerms {
		return &fakePerms{fakeIAM: newFakeIAM(), dry: func(string) error { return nil },
			simulate: func(*iam.SimulatePrincipalPolicyInput) (*iam.SimulatePrincipalPolicyOutput, error) {
				return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "no simulator"}
			}}
	}
	const caller = "arn:aws:iam::111111111111:user/u"
	for _, tt := range []struct {
		name   string
		client PermissionsAPI
		want   Decision
	}{
		{"allowed", cloudTrailPerms{fakePerms: noSim()}, DecisionAllowed},
		{"denied", cloudTrailPerms{fakePerms: noSim(), lookupErr: &smithy.GenericAPIError{Code: "AccessDeniedException"}}, DecisionDenied},
		{"no CloudTrail client", noSim(), DecisionUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			perms, err := CheckPermissions(context.Background(), tt.client, caller, []string{"cloudtrail:LookupEvents"})
			if err != nil || len(perms) != 1 || perms[0].Decision != tt.want {
				t.Errorf("%+v, %v; want %s", perms, err, tt.want)
			}
		})
	}
}
