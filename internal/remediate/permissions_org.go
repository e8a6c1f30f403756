package remediate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
)

// CheckOrganizations tells whether the caller may list what sel needs (organizations:ListAccounts
// for the whole organization; ListAccountsForParent and ListOrganizationalUnitsForParent for
// OUs), by making those reads once (one item, the first OU). Nothing is returned when sel lists
// nothing (named accounts only, with listing false).
func CheckOrganizations(ctx context.Context, api org.OrganizationsAPI, sel org.Selection, listing bool) []Permission {
	var out []Permission
	add := func(action string, err error) {
		out = append(out, readDecision(action, err))
	}
	if len(sel.OUs) > 0 {
		_, err := api.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(sel.OUs[0]), MaxResults: aws.Int32(1)})
		add("organizations:ListAccountsForParent", err)
		_, err = api.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(sel.OUs[0]), MaxResults: aws.Int32(1)})
		add("organizations:ListOrganizationalUnitsForParent", err)
		return out
	}
	if listing {
		_, err := api.ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(1)})
		p := readDecision("organizations:ListAccounts", err)
		if p.Decision == DecisionDenied && len(sel.Accounts) > 0 {
			p.Detail += " (the accounts of --accounts are then used as given, without names)"
		}
		out = append(out, p)
	}
	return out
}

// readDecision reads the answer to a real read made to check action.
func readDecision(action string, err error) Permission {
	switch {
	case err == nil:
		return Permission{Action: action, Decision: DecisionAllowed, Method: MethodDryCall, Detail: "read succeeded"}
	case isAccessDenied(err):
		return Permission{Action: action, Decision: DecisionDenied, Method: MethodDryCall, Detail: "read: " + errorCode(err)}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AWSOrganizationsNotInUseException" {
		return Permission{Action: action, Decision: DecisionUnknown, Method: MethodDryCall, Detail: "the caller's account is in no organization"}
	}
	return Permission{Action: action, Decision: DecisionUnknown, Method: MethodDryCall, Detail: "read failed: " + err.Error()}
}

// AccountPermissions are the checks made in one account of a multi-account run.
type AccountPermissions struct {
	Account     org.Account
	Permissions []Permission
	// Err is set when the account could not be checked at all (its deadline passed, the run
	// was interrupted); a refused role is a denied sts:AssumeRole, not an Err.
	Err error
}

// Reach gives the IAM client of account and the principal its calls run as (the caller's ARN in
// its own account, the member role's ARN elsewhere). Its error is the role's refusal.
type Reach func(ctx context.Context, account string) (client PermissionsAPI, principalARN string, err error)

// CheckAccounts checks actions in every account, through reach, as CheckPermissions does for
// one, with the bounded concurrency and per-account deadline of run. In every account but
// callerAccount the first check is sts:AssumeRole of the member role: when it is refused, the
// account's other actions cannot be checked and are not listed. The results are sorted by
// account ID; the error is the run's cancellation.
func CheckAccounts(ctx context.Context, accounts []org.Account, run org.RunOptions, callerAccount string, reach Reach, actions []string) ([]AccountPermissions, error) {
	var mu sync.Mutex
	perms := map[string][]Permission{}
	var out []AccountPermissions
	err := org.Run(ctx, accounts, run, func(ctx context.Context, a org.Account) (setupkeys.AccountResult, error) {
		ps, err := checkAccount(ctx, a.ID, callerAccount, reach, actions)
		mu.Lock()
		perms[a.ID] = ps
		mu.Unlock()
		return setupkeys.AccountResult{}, err
	}, func(r setupkeys.AccountResult) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, AccountPermissions{Account: org.Account{ID: r.AccountID, Name: r.AccountName}, Permissions: perms[r.AccountID], Err: r.Err})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Account.ID < out[j].Account.ID })
	return out, err
}

func checkAccount(ctx context.Context, account, callerAccount string, reach Reach, actions []string) ([]Permission, error) {
	client, principal, err := reach(ctx, account)
	member := account != callerAccount
	if err != nil {
		if !member {
			return nil, err
		}
		return assumeFailure(principal, err)
	}
	perms, err := CheckPermissions(ctx, client, principal, actions)
	if member {
		if assumeRoleFailed(err) {
			return assumeFailure(principal, err)
		}
		assume := Permission{Action: "sts:AssumeRole", Decision: DecisionUnknown, Method: MethodNone, Detail: "no call through " + principal + " was answered"}
		if anyDecided(perms) {
			assume = Permission{Action: "sts:AssumeRole", Decision: DecisionAllowed, Method: MethodDryCall, Detail: "assumed " + principal}
		}
		perms = append([]Permission{assume}, perms...)
	}
	return perms, err
}

// anyDecided reports whether AWS decided any of perms, which proves the credentials they were
// checked with worked.
func anyDecided(perms []Permission) bool {
	for _, p := range perms {
		if p.Decision != DecisionUnknown && p.Method != MethodNone {
			return true
		}
	}
	return false
}

// assumeFailure is the outcome of an account whose role could not be assumed: a refusal is a
// denied sts:AssumeRole; anything else (a timeout, a network error) leaves the account unchecked.
func assumeFailure(roleARN string, err error) ([]Permission, error) {
	p := assumeDecision(roleARN, err)
	if p.Decision == DecisionDenied {
		return []Permission{p}, nil
	}
	return []Permission{p}, err
}

// assumeDecision is the sts:AssumeRole check of a role that could not be assumed.
func assumeDecision(roleARN string, err error) Permission {
	p := Permission{Action: "sts:AssumeRole", Decision: DecisionUnknown, Method: MethodDryCall, Detail: fmt.Sprintf("%s: %v", roleARN, err)}
	if isAccessDenied(err) {
		p.Decision, p.Detail = DecisionDenied, fmt.Sprintf("%s refused (%s): the caller may not assume it, or the role does not trust the caller or does not exist", roleARN, errorCode(err))
	}
	return p
}

// assumeRoleFailed reports whether err comes from assuming a role for the credentials, as
// opposed to the call made with them.
func assumeRoleFailed(err error) bool {
	// errors.As would stop at the outer call's OperationError: look at each link.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if oe, ok := e.(*smithy.OperationError); ok && oe.Service() == "STS" && oe.Operation() == "AssumeRole" {
			return true
		}
	}
	return false
}
