// Command setupkeys finds and safely removes IAM access keys created at console users' setup and
// never used. main only wires the parts together and turns errors into exit codes.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/setupkeys/setupkeys/internal/cli"
	"github.com/setupkeys/setupkeys/internal/interrupt"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// version may be set at link time (-ldflags "-X main.version=v1.2.3"); otherwise the build's
// own record (module version, VCS revision) says which build this is.
var version = "dev"

func main() {
	os.Exit(run())
}

func run() int {
	// The first Ctrl-C or SIGTERM cancels ctx: no new work starts, a call in flight finishes
	// and is journalled; a second one exits at once (internal/interrupt).
	ctx, signals := interrupt.Notify(context.Background(), os.Stderr, os.Exit)
	defer signals.Stop()
	f := &cli.Factory{IO: cli.SystemIO(), Now: time.Now, AWS: cli.SDKClients{}}
	info, ok := debug.ReadBuildInfo()
	root := cli.NewCmdRoot(f, cli.Version(info, ok, version))
	err := root.ExecuteContext(ctx)
	if ie := signals.Interrupted(); ie != nil {
		err = ie // exit 130 (143 for SIGTERM): "interrupted: run the same command again to resume"
	}
	code, msg := cli.ExitCode(err)
	if msg != "" {
		// Errors quote file names and values from the input: never raw on a terminal. A hint or
		// a cause on a line of its own keeps its line.
		for i, line := range strings.Split(msg, "\n") {
			if i == 0 {
				line = "setupkeys: " + line
			}
			fmt.Fprintln(os.Stderr, termsafe.String(line))
		}
	}
	return code
}
