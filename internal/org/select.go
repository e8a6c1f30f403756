// Package org audits a whole AWS Organization: it selects the accounts (Select), gives each one
// credentials (AccountConfig: the caller's own account as is, the others through an assumed
// role), and runs one audit per account with bounded concurrency (Run), streaming each account's
// result as it finishes so that memory stays flat in the number of accounts. One account failing
// never stops the others: it yields a result with Err set.
package org

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/lazyre"
)

// OrganizationsAPI is the part of Organizations that Select uses; *organizations.Client has it.
type OrganizationsAPI interface {
	organizations.ListAccountsAPIClient
	organizations.ListAccountsForParentAPIClient
	organizations.ListOrganizationalUnitsForParentAPIClient
}

var _ OrganizationsAPI = (*organizations.Client)(nil)

// CallerActions are what the caller of a multi-account run needs beyond the audit's own: list the
// organization (OrganizationsAPI) and assume the member role (AccountConfig). The org policy of
// package policies grants exactly these (a test holds it to them).
var CallerActions = []string{
	"organizations:ListAccounts",
	"organizations:ListAccountsForParent",
	"organizations:ListOrganizationalUnitsForParent",
	"sts:AssumeRole",
}

// Account is one account to audit. Name is "" when unknown (accounts named with --accounts and
// no Organizations access).
type Account struct {
	ID   string
	Name string
}

// String is "123456789012 (name)", or the bare ID when the name is unknown.
func (a Account) String() string {
	if a.Name == "" {
		return a.ID
	}
	return a.ID + " (" + a.Name + ")"
}

// Selection says which accounts to audit.
type Selection struct {
	// Accounts, when set, are the only accounts audited (--accounts). Without OUs and with a nil
	// API they are used as given, with no Organizations call and names unknown.
	Accounts []string
	// Exclude are accounts never audited (--exclude-accounts).
	Exclude []string
	// OUs limit the audit to the accounts under these organizational units, recursively
	// (--ou). A root ID ("r-...") means the whole organization.
	OUs []string
}

var (
	// Organizations' own patterns for OU and root IDs.
	ouIDRE   = lazyre.New(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	rootIDRE = lazyre.New(`^r-[0-9a-z]{4,32}$`)
)

// Validate checks the IDs in the selection without calling AWS.
func (s Selection) Validate() error {
	for _, list := range []struct {
		flag string
		ids  []string
	}{{"accounts", s.Accounts}, {"exclude-accounts", s.Exclude}} {
		for _, id := range list.ids {
			if !setupkeys.ValidAccountID(id) {
				return fmt.Errorf("--%s: %q is not an AWS account ID (12 digits, such as 123456789012)", list.flag, id)
			}
		}
	}
	for _, id := range s.OUs {
		if !ouIDRE.MatchString(id) && !rootIDRE.MatchString(id) {
			return fmt.Errorf("--ou: %q is not an organizational unit ID (ou-ab12-cd34ef56) or a root ID (r-ab12)", id)
		}
	}
	if len(s.Accounts) > 0 {
		ex := set(s.Exclude)
		all := true
		for _, id := range s.Accounts {
			if !ex[id] {
				all = false
				break
			}
		}
		if all {
			return errors.New("--exclude-accounts excludes every account of --accounts: nothing to audit")
		}
	}
	return nil
}

// Selected is what Choose selected: the accounts to audit, sorted by ID, and the accounts it
// left out with why, sorted by ID.
type Selected struct {
	Accounts []Account
	Skipped  []setupkeys.SkippedAccount
}

// Select returns the accounts to audit, as Choose does, without the skipped ones.
func Select(ctx context.Context, api OrganizationsAPI, sel Selection) ([]Account, error) {
	s, err := Choose(ctx, api, sel)
	return s.Accounts, err
}

// Choose selects the accounts to audit, sorted by ID, without duplicates:
//
//   - no OUs and no Accounts: every ACTIVE account of the organization (ListAccounts), the
//     management account included;
//   - OUs: every ACTIVE account under them, recursively (ListAccountsForParent and
//     ListOrganizationalUnitsForParent);
//   - Accounts: only those. With a nil api and no OUs, Choose makes no call and the names are
//     unknown (the caller has no Organizations access). With an api, the listing names them,
//     and an account it does not list as ACTIVE is an error; if the listing is refused
//     (AccessDenied, no organization) and there are no OUs, the accounts are used as given.
//
// Exclude removes accounts in every case. An empty result is an error.
//
// Selected.Skipped says what was left out that the selection would otherwise have audited: the
// listed accounts that are not ACTIVE (suspended, pending closure...), and the excluded ones.
// Accounts outside --accounts or the OUs were not asked for and are not listed.
func Choose(ctx context.Context, api OrganizationsAPI, sel Selection) (Selected, error) {
	if err := sel.Validate(); err != nil {
		return Selected{}, err
	}
	if api == nil && len(sel.Accounts) == 0 && len(sel.OUs) == 0 {
		return Selected{}, errors.New("no account to audit: name the accounts (--accounts) or give Organizations access")
	}
	var listed listing
	switch {
	case len(sel.OUs) > 0:
		if api == nil {
			return Selected{}, errors.New("--ou needs Organizations access")
		}
		var err error
		if listed, err = listOUs(ctx, api, sel.OUs); err != nil {
			return Selected{}, err
		}
	case api != nil:
		var err error
		listed, err = listAccounts(ctx, api)
		if err != nil {
			if len(sel.Accounts) == 0 || !noOrganizationsAccess(err) {
				return Selected{}, err
			}
			listed = listing{}
			api = nil // fall back to the accounts as given
		}
	}

	var out Selected
	if len(sel.Accounts) > 0 {
		byID := map[string]Account{}
		for _, a := range listed.active {
			byID[a.ID] = a
		}
		inactive := map[string]string{}
		for _, s := range listed.inactive {
			inactive[s.AccountID] = s.Reason
		}
		for _, id := range dedupe(sel.Accounts) {
			a, ok := byID[id]
			if api != nil && !ok {
				where := "the organization"
				if len(sel.OUs) > 0 {
					where = strings.Join(sel.OUs, ", ")
				}
				if reason, ok := inactive[id]; ok {
					return Selected{}, fmt.Errorf("--accounts: %s is %s, not an ACTIVE account of %s", id, reason, where)
				}
				return Selected{}, fmt.Errorf("--accounts: %s is not an ACTIVE account of %s", id, where)
			}
			a.ID = id
			out.Accounts = append(out.Accounts, a)
		}
	} else {
		out.Accounts = listed.active
		out.Skipped = listed.inactive
	}

	ex := set(sel.Exclude)
	kept := out.Accounts[:0]
	for _, a := range out.Accounts {
		if ex[a.ID] {
			out.Skipped = append(out.Skipped, setupkeys.SkippedAccount{AccountID: a.ID, Name: a.Name, Reason: setupkeys.SkipExcluded})
			continue
		}
		kept = append(kept, a)
	}
	out.Accounts = kept
	sort.Slice(out.Accounts, func(i, j int) bool { return out.Accounts[i].ID < out.Accounts[j].ID })
	sort.Slice(out.Skipped, func(i, j int) bool { return out.Skipped[i].AccountID < out.Skipped[j].AccountID })
	if len(out.Accounts) == 0 {
		return out, errors.New("no account to audit: the selection is empty" + skippedNote(out.Skipped))
	}
	return out, nil
}

// skippedNote says, for the error of an empty selection, how many accounts were left out.
func skippedNote(skipped []setupkeys.SkippedAccount) string {
	if len(skipped) == 0 {
		return ""
	}
	counts := map[string]int{}
	var reasons []string
	for _, s := range skipped {
		if counts[s.Reason] == 0 {
			reasons = append(reasons, s.Reason)
		}
		counts[s.Reason]++
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", counts[r], r)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// listing is what the organization listed: its ACTIVE accounts, and the others with why they
// are not audited.
type listing struct {
	active   []Account
	inactive []setupkeys.SkippedAccount
}

// add sorts accts into the listing, skipping the IDs already in seen (nil: no check).
func (l *listing) add(accts []types.Account, seen map[string]bool) {
	for _, a := range accts {
		id := aws.ToString(a.Id)
		if seen != nil {
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		if reason := inactiveReason(a); reason != "" {
			l.inactive = append(l.inactive, setupkeys.SkippedAccount{AccountID: id, Name: aws.ToString(a.Name), Reason: reason})
			continue
		}
		l.active = append(l.active, Account{ID: id, Name: aws.ToString(a.Name)})
	}
}

// listAccounts lists every account of the organization.
func listAccounts(ctx context.Context, api OrganizationsAPI) (listing, error) {
	var out listing
	p := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return listing{}, fmt.Errorf("listing the organization's accounts: %w", err)
		}
		out.add(page.Accounts, nil)
	}
	return out, nil
}

// listOUs lists the accounts under each OU, recursively, without duplicates.
func listOUs(ctx context.Context, api OrganizationsAPI, ous []string) (listing, error) {
	seenOU := map[string]bool{}
	seen := map[string]bool{}
	var out listing
	queue := append([]string(nil), ous...)
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		if seenOU[parent] {
			continue
		}
		seenOU[parent] = true
		ap := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
		for ap.HasMorePages() {
			page, err := ap.NextPage(ctx)
			if err != nil {
				return listing{}, fmt.Errorf("listing the accounts of %s: %w", parent, err)
			}
			out.add(page.Accounts, seen)
		}
		op := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
		for op.HasMorePages() {
			page, err := op.NextPage(ctx)
			if err != nil {
				return listing{}, fmt.Errorf("listing the organizational units of %s: %w", parent, err)
			}
			for _, ou := range page.OrganizationalUnits {
				queue = append(queue, aws.ToString(ou.Id))
			}
		}
	}
	return out, nil
}

// inactiveReason is why an account is not audited, or "" when it is ACTIVE. State replaces the
// deprecated Status; either may be the only one set.
func inactiveReason(a types.Account) string {
	state := string(a.State)
	if state == "" {
		state = string(a.Status)
	}
	switch state {
	case string(types.AccountStateActive):
		return ""
	case string(types.AccountStateSuspended):
		return setupkeys.SkipSuspended
	case string(types.AccountStatePendingClosure):
		return setupkeys.SkipPendingClosure
	case string(types.AccountStateClosed):
		return setupkeys.SkipClosed
	case string(types.AccountStatePendingActivation):
		return setupkeys.SkipPendingActivation
	case "":
		return "state unknown"
	}
	return strings.ToLower(strings.ReplaceAll(state, "_", " "))
}

// noOrganizationsAccess reports whether err says the caller cannot list the organization (not a
// management or delegated administrator account, or no organization at all), as opposed to a
// network failure or throttling.
func noOrganizationsAccess(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "AccessDeniedException", "AccessDenied", "AWSOrganizationsNotInUseException":
		return true
	}
	return false
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
