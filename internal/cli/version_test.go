package cli

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name   string
		info   *debug.BuildInfo
		ok     bool
		linked string
		want   string
	}{
		{"no build info", nil, false, "dev", "devel"},
		{"go install module@version", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, true, "dev", "v1.4.0"},
		{"checkout, clean", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false")}, true, "dev",
			"devel (commit 0123456789ab, 2026-12-01T10:00:00Z)"},
		{"checkout, dirty", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, true, "dev",
			"devel (commit 0123456789ab, with uncommitted changes)"},
		{"pseudo-version holds the revision", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201100000-0123456789ab+dirty"}, Settings: settings("vcs.revision", rev, "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true")}, true, "dev",
			"v0.0.0-20261201100000-0123456789ab+dirty (2026-12-01T10:00:00Z)"},
		{"linked version wins", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: settings("vcs.revision", rev)}, true, "v2.0.0",
			"v2.0.0 (commit 0123456789ab)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Version(tt.info, tt.ok, tt.linked); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
