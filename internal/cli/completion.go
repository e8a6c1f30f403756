package cli

import (
	"bufio"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// addCompletions gives shell completion the profiles of the AWS config and credentials files for
// --profile, on every command that has it (OutputFlags completes --format's values).
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(fl *pflag.Flag) {
			if fl.Name == "profile" {
				_ = c.RegisterFlagCompletionFunc(fl.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
					return awsProfiles(), cobra.ShellCompDirectiveNoFileComp
				})
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// awsProfiles lists the profiles of the shared config and credentials files, where the AWS CLI
// and the SDK look for them (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else ~/.aws), as shell
// completions: "NAME\tHOW" where how it signs in is known (an SSO session, a role...).
func awsProfiles() []string {
	configFile := os.Getenv("AWS_CONFIG_FILE")
	if configFile == "" {
		configFile = config.DefaultSharedConfigFilename()
	}
	credsFile := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if credsFile == "" {
		credsFile = config.DefaultSharedCredentialsFilename()
	}
	about := map[string]string{}
	for _, f := range []struct {
		path   string
		config bool
	}{{configFile, true}, {credsFile, false}} {
		file, err := os.Open(f.path)
		if err != nil {
			continue // a missing file has no profiles
		}
		for _, p := range readProfiles(file, f.config) {
			if about[p.name] == "" {
				about[p.name] = p.about
			}
		}
		file.Close()
	}
	names := slices.Sorted(maps.Keys(about))
	for i, name := range names {
		if about[name] != "" {
			names[i] += "\t" + about[name]
		}
	}
	return names
}

// awsProfile is a profile of a shared config or credentials file and, when its keys tell, how it
// signs in.
type awsProfile struct{ name, about string }

// readProfiles reads the profiles of an AWS shared config file (config: "[default]" and
// "[profile NAME]"; other sections such as "[sso-session X]" are not profiles, though a profile
// may use one) or credentials file ("[NAME]").
func readProfiles(r io.Reader, configFile bool) []awsProfile {
	var out []awsProfile
	current := -1 // index in out of the profile whose keys follow; -1 in any other section
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			current = -1
			if name, ok := sectionProfile(line, configFile); ok {
				out = append(out, awsProfile{name: name})
				current = len(out) - 1
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || current < 0 || !configFile {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		p := &out[current]
		switch {
		case key == "sso_session" && value != "":
			p.about = "SSO session " + termsafe.String(value)
		case key == "sso_start_url" && p.about == "":
			p.about = "SSO"
		case key == "role_arn" && p.about == "":
			p.about = "role " + termsafe.String(value)
		case key == "credential_process" && p.about == "":
			p.about = "credential process"
		}
	}
	return out
}

// sectionProfile returns the profile a section header line names, if it names one.
func sectionProfile(line string, configFile bool) (string, bool) {
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return "", false
	}
	section := strings.TrimSpace(line[1:end])
	name := section
	if configFile && section != "default" {
		kind, rest, ok := strings.Cut(section, " ")
		if !ok || kind != "profile" {
			return "", false
		}
		name = strings.TrimSpace(rest)
	}
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", false
	}
	return name, true
}
