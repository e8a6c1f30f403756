package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestProfileNames(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		config bool
		want   []string
	}{
		{"config file", "[default]\nregion=x\n[profile prod]\n[ profile  dev ]\n[sso-session corp]\n[services s]\n[plain]\n", true, []string{"default", "prod", "dev"}},
		{"config spaces", "  [profile dev]  # comment\n", true, []string{"dev"}},
		{"credentials file", "[default]\n[ci]\naws_access_key_id=x\n; [commented]\n", false, []string{"default", "ci"}},
		{"broken lines", "[profile\n[]\n[profile ]\n[profile a b]\nkey=[x]\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := profileNames(strings.NewReader(tt.file), tt.config); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzProfileNames(f *testing.F) {
	f.Add("[default]\n[profile prod]\n[sso-session x]\n", true)
	f.Add("[ci]\n[prod]\n", false)
	f.Add("[profile \x00]\n[", true)
	f.Fuzz(func(t *testing.T, file string, config bool) {
		for _, name := range profileNames(strings.NewReader(file), config) {
			if name == "" || strings.ContainsAny(name, " \t]\n") {
				t.Fatalf("profile name %q", name)
			}
		}
	})
}
