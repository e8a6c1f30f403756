package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadProfiles(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		config bool
		want   []string // "name" or "name: how it signs in"
	}{
		{"config file", "[default]\nregion=x\n[profile prod]\n[ profile  dev ]\n[sso-session corp]\n[services s]\n[plain]\n", true, []string{"default", "prod", "dev"}},
		{"config spaces", "  [profile dev]  # comment\n", true, []string{"dev"}},
		{"credentials file", "[default]\n[ci]\naws_access_key_id=x\n; [commented]\n", false, []string{"default", "ci"}},
		{"SSO", "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n[profile legacy]\nsso_start_url = https://old.awsapps.com/start\n[sso-session  other ]\n", true,
			[]string{"dev: SSO session corp", "legacy: SSO"}},
		{"an sso-session's keys are not a profile's", "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n[profile after]\nregion = x\n", true, []string{"after"}},
		{"roles and processes", "[profile r]\nrole_arn = arn:aws:iam::111111111111:role/R\nsource_profile = default\n[profile p]\ncredential_process = /bin/creds\n[profile both]\nrole_arn=arn:aws:iam::1:role/x\nsso_session=s\n", true,
			[]string{"r: role arn:aws:iam::111111111111:role/R", "p: credential process", "both: SSO session s"}},
		{"a control character in a value is escaped", "[profile x]\nsso_session = a\x1bb\n", true, []string{`x: SSO session a\x1bb`}},
		{"credentials file sections are names as they are", "[profile x]\n[sso-session y]\n[z]\nrole_arn = r\n", false, []string{"z"}},
		{"broken lines", "[profile\n[]\n[profile ]\n[profile a b]\nkey=[x]\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range readProfiles(strings.NewReader(tt.file), tt.config) {
				if p.about != "" {
					got = append(got, p.name+": "+p.about)
				} else {
					got = append(got, p.name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzReadProfiles(f *testing.F) {
	f.Add("[default]\n[profile prod]\nsso_session = corp\n[sso-session x]\n", true)
	f.Add("[ci]\n[prod]\n", false)
	f.Add("[profile \x00]\n[", true)
	f.Add("[profile r]\nrole_arn = \t\x1b\n", true)
	f.Fuzz(func(t *testing.T, file string, config bool) {
		for _, p := range readProfiles(strings.NewReader(file), config) {
			if p.name == "" || strings.ContainsAny(p.name, " \t]\n") || strings.ContainsAny(p.about, "\t\n\r\x1b") {
				t.Fatalf("profile %q", p)
			}
		}
	})
}

// Shell completion of --profile through cobra's hidden __complete command, as a shell calls it:
// the profiles of both files, SSO profiles included, the [sso-session] sections left out.
func TestCompleteProfile(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(config, []byte("[default]\n[profile dev]\nsso_session = corp\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n[profile prod]\nrole_arn = arn:aws:iam::111111111111:role/R\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("[ci]\naws_access_key_id = x\n[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	for _, cmd := range []string{"audit", "plan", "check-permissions"} {
		code, out, errOut := runCLI(t, "", "__complete", cmd, "--profile", "")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != ExitOK || len(lines) == 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", cmd, code, out, errOut)
		}
		if got, want := lines[:len(lines)-1], []string{"ci", "default", "dev\tSSO session corp", "prod\trole arn:aws:iam::111111111111:role/R"}; !slices.Equal(got, want) {
			t.Errorf("%s --profile completes %q, want %q", cmd, got, want)
		}
		if lines[len(lines)-1] != ":4" { // ShellCompDirectiveNoFileComp
			t.Errorf("%s: directive %q", cmd, lines[len(lines)-1])
		}
	}
}
