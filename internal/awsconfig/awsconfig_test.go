package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go"
)

// cleanEnv isolates a test from the developer's AWS setup: no ~/.aws, no region, no endpoints,
// no instance metadata, and static credentials so nothing reaches out to find any.
func cleanEnv(t *testing.T) (configFile string) {
	t.Helper()
	for _, k := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ORGANIZATIONS",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
		"AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	configFile = filepath.Join(dir, "config")
	if err := os.WriteFile(configFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST0001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	return configFile
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRegion(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		profile string // written to the config file as [profile p] / [default]
		opts    Options
		want    string
	}{
		{name: "nothing configured: IAM's home region", want: "us-east-1"},
		{name: "AWS_REGION", env: map[string]string{"AWS_REGION": "eu-west-1"}, want: "eu-west-1"},
		{name: "AWS_DEFAULT_REGION", env: map[string]string{"AWS_DEFAULT_REGION": "eu-west-2"}, want: "eu-west-2"},
		{name: "default profile", profile: "[default]\nregion = ap-south-1\n", want: "ap-south-1"},
		{name: "named profile", profile: "[profile p]\nregion = cn-north-1\n", opts: Options{Profile: "p"}, want: "cn-north-1"},
		{name: "flag beats environment", env: map[string]string{"AWS_REGION": "eu-west-1"}, opts: Options{Region: "us-gov-west-1"}, want: "us-gov-west-1"},
		{name: "environment beats profile", env: map[string]string{"AWS_REGION": "eu-west-1"}, profile: "[default]\nregion = ap-south-1\n", want: "eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgFile := cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			writeConfig(t, cfgFile, tt.profile)
			cfg, err := Load(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tt.want {
				t.Errorf("Region = %q, want %q", cfg.Region, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	cleanEnv(t)
	_, err := Load(context.Background(), Options{Profile: "nope"})
	if err == nil || !strings.Contains(err.Error(), `profile "nope" not found`) {
		t.Errorf("missing profile: err = %v", err)
	}
	for _, bad := range []string{"127.0.0.1:5000", "not a url", "://x"} {
		if _, err := Load(context.Background(), Options{EndpointURL: bad}); err == nil {
			t.Errorf("EndpointURL %q: no error", bad)
		}
	}
}

// fakeAWS answers IAM ListUsers, STS GetCallerIdentity and Organizations DescribeOrganization, and
// records which services (from the SigV4 credential scope) reached it.
type fakeAWS struct {
	*httptest.Server
	name string

	mu       sync.Mutex
	services []string
	// throttle makes the next N requests fail with IAM's throttling error.
	throttle int
	attempts int
}

var scopeService = regexp.MustCompile(`Credential=[^/]+/[0-9]+/[^/]+/([^/]+)/aws4_request`)

func newFakeAWS(t *testing.T, name string) *fakeAWS {
	f := &fakeAWS{name: name}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	m := scopeService.FindStringSubmatch(r.Header.Get("Authorization"))
	service := "unsigned"
	if m != nil {
		service = m[1]
	}
	f.mu.Lock()
	f.services = append(f.services, service)
	f.attempts++
	throttled := f.throttle > 0
	if throttled {
		f.throttle--
	}
	f.mu.Unlock()
	if throttled {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
		return
	}
	switch service {
	case "iam":
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUsersResult><Users/><IsTruncated>false</IsTruncated></ListUsersResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListUsersResponse>`)
	case "sts":
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/auditor</Arn><UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case "organizations":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"Organization":{"Id":"o-example","MasterAccountId":"111122223333"}}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func (f *fakeAWS) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.services...)
}

// callAll makes one call to each service the tool uses and fails on any error.
func callAll(t *testing.T, cfg aws.Config) {
	t.Helper()
	ctx := context.Background()
	if _, err := iam.NewFromConfig(cfg).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatalf("iam ListUsers: %v", err)
	}
	acct, arn, err := CallerAccount(ctx, cfg)
	if err != nil {
		t.Fatalf("CallerAccount: %v", err)
	}
	if acct != "111122223333" || arn != "arn:aws:iam::111122223333:user/auditor" {
		t.Errorf("CallerAccount = %q, %q", acct, arn)
	}
	if _, err := organizations.NewFromConfig(cfg).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err != nil {
		t.Fatalf("organizations DescribeOrganization: %v", err)
	}
}

func TestLoadEndpoints(t *testing.T) {
	tests := []struct {
		name string
		// env and opts name servers by letter: "A" becomes server A's URL.
		env     map[string]string
		profile string
		opts    Options
		// want maps each server to the services it must have seen, in call order.
		want map[string][]string
	}{
		{
			name: "--endpoint-url sends every service to one URL",
			opts: Options{EndpointURL: "A"},
			want: map[string][]string{"A": {"iam", "sts", "organizations"}},
		},
		{
			name: "AWS_ENDPOINT_URL does the same",
			env:  map[string]string{"AWS_ENDPOINT_URL": "A"},
			want: map[string][]string{"A": {"iam", "sts", "organizations"}},
		},
		{
			name: "AWS_ENDPOINT_URL_IAM sends only IAM elsewhere",
			env:  map[string]string{"AWS_ENDPOINT_URL": "A", "AWS_ENDPOINT_URL_IAM": "B"},
			want: map[string][]string{"A": {"sts", "organizations"}, "B": {"iam"}},
		},
		{
			name: "AWS_ENDPOINT_URL_IAM alone",
			env:  map[string]string{"AWS_ENDPOINT_URL_IAM": "B", "AWS_ENDPOINT_URL_STS": "B", "AWS_ENDPOINT_URL_ORGANIZATIONS": "B"},
			want: map[string][]string{"B": {"iam", "sts", "organizations"}},
		},
		{
			name: "endpoint_url in the profile",
			// A named profile's credentials beat the environment's, so it carries its own.
			profile: "[profile p]\nendpoint_url = A\naws_access_key_id = AKIATESTTESTTEST0002\naws_secret_access_key = s\n",
			opts:    Options{Profile: "p"},
			want:    map[string][]string{"A": {"iam", "sts", "organizations"}},
		},
		{
			name:    "--endpoint-url beats every configured endpoint",
			env:     map[string]string{"AWS_ENDPOINT_URL": "A", "AWS_ENDPOINT_URL_IAM": "B", "AWS_ENDPOINT_URL_STS": "B"},
			profile: "[default]\nendpoint_url = A\nservices = s\n[services s]\niam =\n  endpoint_url = B\n",
			opts:    Options{EndpointURL: "C"},
			want:    map[string][]string{"C": {"iam", "sts", "organizations"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgFile := cleanEnv(t)
			servers := map[string]*fakeAWS{}
			for _, n := range []string{"A", "B", "C"} {
				servers[n] = newFakeAWS(t, n)
			}
			resolve := func(s string) string {
				for n, srv := range servers {
					s = strings.ReplaceAll(s, "= "+n+"\n", "= "+srv.URL+"\n")
					if s == n {
						return srv.URL
					}
				}
				return s
			}
			for k, v := range tt.env {
				t.Setenv(k, resolve(v))
			}
			writeConfig(t, cfgFile, resolve(tt.profile))
			opts := tt.opts
			opts.EndpointURL = resolve(opts.EndpointURL)

			cfg, err := Load(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			callAll(t, cfg)
			for n, srv := range servers {
				got := strings.Join(srv.seen(), ",")
				if want := strings.Join(tt.want[n], ","); got != want {
					t.Errorf("server %s saw [%s], want [%s]", n, got, want)
				}
			}
		})
	}
}

// fastBackoff keeps the SDK's retry decisions and attempt count but not its waits.
func fastBackoff(o *iam.Options) {
	o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
}

func TestRetryerRetriesThrottling(t *testing.T) {
	tests := []struct {
		name         string
		throttle     int
		wantAttempts int
		wantErr      bool
	}{
		{name: "one throttle", throttle: 1, wantAttempts: 2},
		{name: "nine throttles: the tenth try succeeds", throttle: 9, wantAttempts: 10},
		{name: "ten throttles: give up after MaxAttempts", throttle: 10, wantAttempts: 10, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			srv := newFakeAWS(t, "A")
			srv.throttle = tt.throttle
			cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = iam.NewFromConfig(cfg, fastBackoff).ListUsers(context.Background(), &iam.ListUsersInput{})
			if srv.attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", srv.attempts, tt.wantAttempts)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "Throttling" {
				t.Errorf("err = %v, want the Throttling error after the last try", err)
			}
			var maxErr *retry.MaxAttemptsError
			if !errors.As(err, &maxErr) {
				t.Errorf("err = %v, want a MaxAttemptsError", err)
			}
		})
	}
}

// A throttling storm must not drain a client-side retry quota and turn later calls into
// "retry quota exceeded" failures without even trying.
func TestRetryerHasNoRetryQuota(t *testing.T) {
	cleanEnv(t)
	srv := newFakeAWS(t, "A")
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	client := iam.NewFromConfig(cfg, fastBackoff)
	// 500 tokens at 5 per throttled retry would run out after 100 retries.
	for i := 0; i < 30; i++ {
		srv.mu.Lock()
		srv.throttle = 9
		srv.mu.Unlock()
		if _, err := client.ListUsers(context.Background(), &iam.ListUsersInput{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestRetryerHonoursAWSMaxAttempts(t *testing.T) {
	cleanEnv(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "3")
	srv := newFakeAWS(t, "A")
	srv.throttle = 5
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iam.NewFromConfig(cfg, fastBackoff).ListUsers(context.Background(), &iam.ListUsersInput{}); err == nil {
		t.Fatal("no error after 3 throttled tries")
	}
	if srv.attempts != 3 {
		t.Errorf("attempts = %d, want 3 (AWS_MAX_ATTEMPTS)", srv.attempts)
	}
}

func TestRetryModeAdaptiveKeepsOptions(t *testing.T) {
	cleanEnv(t)
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	srv := newFakeAWS(t, "A")
	cfg, err := Load(context.Background(), Options{EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Retryer().(*retry.AdaptiveMode); !ok {
		t.Errorf("AWS_RETRY_MODE=adaptive: retryer is %T", cfg.Retryer())
	}
	if got := cfg.Retryer().MaxAttempts(); got != MaxAttempts {
		t.Errorf("MaxAttempts = %d, want %d", got, MaxAttempts)
	}
}
