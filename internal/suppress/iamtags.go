package suppress

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// IAMTags is a TagLookup over one account's IAM API (iam:ListUserTags, every page). It ignores
// the account ID it is asked about: give each account its own IAMTags (the CLI applies
// suppressions account by account).
type IAMTags struct {
	Client iam.ListUserTagsAPIClient
}

var _ TagLookup = IAMTags{}

// UserTags lists the user's tags.
func (t IAMTags) UserTags(ctx context.Context, _ string, user string) (map[string]string, error) {
	tags := map[string]string{}
	pages := iam.NewListUserTagsPaginator(t.Client, &iam.ListUserTagsInput{UserName: &user})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("iam:ListUserTags %s: %w", user, err)
		}
		for _, tag := range out.Tags {
			if tag.Key != nil {
				v := ""
				if tag.Value != nil {
					v = *tag.Value
				}
				tags[*tag.Key] = v
			}
		}
	}
	return tags, nil
}
