package cli

import (
	"bufio"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// awsProfiles lists the profile names of the shared config and credentials files, where the AWS
// CLI and the SDK look for them (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else ~/.aws).
func awsProfiles() []string {
	configFile := os.Getenv("AWS_CONFIG_FILE")
	if configFile == "" {
		configFile = config.DefaultSharedConfigFilename()
	}
	credsFile := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if credsFile == "" {
		credsFile = config.DefaultSharedCredentialsFilename()
	}
	var names []string
	for _, f := range []struct {
		path   string
		config bool
	}{{configFile, true}, {credsFile, false}} {
		file, err := os.Open(f.path)
		if err != nil {
			continue // a missing file has no profiles
		}
		names = append(names, profileNames(file, f.config)...)
		file.Close()
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// profileNames reads the section names of an AWS shared config file (config: "[default]" and
// "[profile NAME]", other sections such as "[sso-session X]" are not profiles) or credentials
// file ("[NAME]").
func profileNames(r io.Reader, configFile bool) []string {
	var names []string
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "[") {
			continue
		}
		end := strings.IndexByte(line, ']')
		if end < 0 {
			continue
		}
		section := strings.TrimSpace(line[1:end])
		name := section
		if configFile && section != "default" {
			kind, rest, ok := strings.Cut(section, " ")
			if !ok || kind != "profile" {
				continue
			}
			name = strings.TrimSpace(rest)
		}
		if name != "" && !strings.ContainsAny(name, " \t") {
			names = append(names, name)
		}
	}
	return names
}
