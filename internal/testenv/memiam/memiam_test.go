package memiam

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/iamx"
	"github.com/setupkeys/setupkeys/internal/org"
	"github.com/setupkeys/setupkeys/internal/pipeline"
	"github.com/setupkeys/setupkeys/internal/remediate"
)

var (
	_ remediate.PermissionsAPI = (*Client)(nil)
	_ pipeline.IAM             = (*Client)(nil)
	_ org.OrganizationsAPI     = (*Organizations)(nil)
)

// The fake answers the way the code reading IAM expects: every page of keys, NoSuchEntity for a
// missing user or password, a credential report the live source judges like the state, and a
// denied role only from another account.
func TestFakeAsTheCodeReadsIt(t *testing.T) {
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	used := created.Add(time.Hour)
	f := New()
	f.AddAccount("111111111111", "management")
	f.AddAccount("222222222222", "locked")
	f.DenyRole("222222222222", true)
	f.AddUser("111111111111", User{Name: "alice", Created: created, Console: true, Keys: []Key{{ID: "AKIAALICE00000000001", Created: created.Add(time.Second)}, {ID: "AKIAALICE00000000002", Created: created.Add(2 * time.Second), LastUsed: &used}}})
	f.AddUser("111111111111", User{Name: "bot", Created: created, Keys: []Key{{ID: "AKIABOT0000000000001", Created: created}}})
	c, err := f.Reach("111111111111", "111111111111")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys, err := iamx.ListAccessKeys(ctx, c, "alice", nil)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	if _, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String("bot")}); !iamx.IsNoSuchEntity(err) {
		t.Errorf("bot's password: %v", err)
	}
	if _, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")}); !iamx.IsNoSuchEntity(err) {
		t.Errorf("nobody's keys: %v", err)
	}
	res, err := pipeline.Account(ctx, c, "111111111111", pipeline.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Status != setupkeys.StatusFail || aws.ToString(res.Findings[0].AccessKeyID) != "AKIAALICE00000000001" {
		t.Errorf("live report findings %+v", res.Findings)
	}
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bot"), AccessKeyId: aws.String("AKIAALICE00000000001"), Status: "Inactive"}); !iamx.IsNoSuchEntity(err) {
		t.Errorf("another user's key updated: %v", err)
	}
	if _, err := f.Reach("111111111111", "222222222222"); iamx.ErrorCode(err) != "AccessDenied" {
		t.Errorf("denied role: %v", err)
	}
	if _, err := f.Reach("222222222222", "222222222222"); err != nil {
		t.Errorf("the account itself: %v", err)
	}
	accts, err := org.Select(ctx, f.Organizations(), org.Selection{})
	if err != nil || len(accts) != 2 || accts[0].Name != "management" {
		t.Errorf("organization %v, err %v", accts, err)
	}
}
