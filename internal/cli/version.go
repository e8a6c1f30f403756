package cli

import (
	"runtime/debug"
	"strings"
)

// Version says which build this is, from what the Go toolchain recorded in it: the module
// version ("v1.2.3" for `go install module@v1.2.3`, "(devel)" for a build from a checkout) and
// the VCS revision, its time and whether the tree had uncommitted changes. linked is a version
// set with -ldflags at link time; it wins when it is not "" or "dev".
func Version(info *debug.BuildInfo, ok bool, linked string) string {
	version := linked
	if version == "dev" {
		version = ""
	}
	var revision, when, modified string
	if ok && info != nil {
		if version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	if version == "" {
		version = "devel"
	}
	if revision == "" {
		return version
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	// Go stamps a build from a repository with a pseudo-version that already holds the
	// revision (v0.0.0-20261201120000-0123456789ab) and "+dirty": say each thing once.
	var parts []string
	if !strings.Contains(version, revision) {
		parts = append(parts, "commit "+revision)
	}
	if when != "" {
		parts = append(parts, when)
	}
	if modified == "true" && !strings.HasSuffix(version, "+dirty") {
		parts = append(parts, "with uncommitted changes")
	}
	if len(parts) == 0 {
		return version
	}
	return version + " (" + strings.Join(parts, ", ") + ")"
}
