package pipeline

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/setupkeys/setupkeys/internal/org"
)

// SDK returns the Clients of the AWS SDK: base is the caller's configuration, callerAccount its
// account, audited with base as is; every other account is reached by assuming role in it
// (org.AccountConfig).
func SDK(base aws.Config, callerAccount string, role org.RoleOptions) Clients {
	return Clients{
		CallerAccount: callerAccount,
		IAM: func(account string) (IAM, error) {
			cfg, err := org.AccountConfig(base, account, callerAccount, role)
			if err != nil {
				return nil, err
			}
			return iam.NewFromConfig(cfg), nil
		},
		Organizations: func() org.OrganizationsAPI { return organizations.NewFromConfig(base) },
	}
}
