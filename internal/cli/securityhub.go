package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/report"
	"github.com/setupkeys/setupkeys/internal/securityhub"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// importSecurityHub sends the audit's ASFF findings to Security Hub in the run's region, each
// account's from that account (the caller's own credentials, members through the audit's role),
// says on errOut what happened per account and names every finding that was not imported: then
// it returns an error (exit 1). The clients come from the session (the Factory's AWS).
func importSecurityHub(ctx context.Context, errOut io.Writer, audit setupkeys.Audit, session *Session, orgFlags OrgFlags, now time.Time) error {
	if session == nil || session.SecurityHub == nil {
		return errors.New("Security Hub: no AWS session to import with")
	}
	partition := org.PartitionFromARN(session.ARN)
	if partition == "" {
		partition = org.PartitionFromRegion(audit.Region)
	}
	byAccount := map[string][]report.ASFFFinding{}
	for _, f := range report.ASFFFindings(audit, now) {
		byAccount[f.AwsAccountId] = append(byAccount[f.AwsAccountId], f)
	}
	var accounts []securityhub.Account
	for _, acct := range audit.Accounts {
		if acct.Err != nil && len(byAccount[acct.AccountID]) == 0 {
			continue // not audited: nothing to import, and nothing may be archived
		}
		accounts = append(accounts, securityhub.Account{
			ID:         acct.AccountID,
			ProductARN: report.ASFFProductARN(partition, audit.Region, acct.AccountID),
			Findings:   byAccount[acct.AccountID],
			Complete:   acct.Err == nil,
		})
	}
	role := orgFlags.role(session.ARN)
	results := securityhub.Sync(ctx, accounts, func(account string) (securityhub.API, error) {
		return session.SecurityHub(account, role)
	}, orgFlags.Concurrency, now)
	failed := 0
	for _, r := range results {
		fmt.Fprintf(errOut, "Security Hub (%s): account %s: %d imported, %d resolved archived", audit.Region, r.AccountID, r.Imported, r.Archived)
		if len(r.Failed) > 0 {
			fmt.Fprintf(errOut, ", %d not imported", len(r.Failed))
		}
		fmt.Fprintln(errOut)
		for _, f := range r.Failed {
			fmt.Fprintf(errOut, "  not imported: %s: %s: %s\n", termsafe.String(f.ID), termsafe.String(f.Code), termsafe.String(f.Message))
		}
		if r.Err != nil {
			fmt.Fprintf(errOut, "  error: %s\n", termsafe.String(r.Err.Error()))
		}
		if !r.OK() {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("Security Hub: %d of %d accounts did not get every finding; see above", failed, len(results))}
	}
	return nil
}
