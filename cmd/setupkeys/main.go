// Command setupkeys finds and safely removes IAM access keys created at console users' setup and
// never used. main only wires the parts together and turns errors into exit codes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/setupkeys/setupkeys/internal/cli"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// version may be set at link time (-ldflags "-X main.version=v1.2.3"); otherwise the build's
// own record (module version, VCS revision) says which build this is.
var version = "dev"

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &cli.Factory{IO: cli.SystemIO(), Now: time.Now, AWS: cli.SDKClients{}}
	info, ok := debug.ReadBuildInfo()
	root := cli.NewCmdRoot(f, cli.Version(info, ok, version))
	err := root.ExecuteContext(ctx)
	code, msg := cli.ExitCode(err)
	if msg != "" {
		// Errors quote file names and values from the input: never raw on a terminal.
		fmt.Fprintln(os.Stderr, "setupkeys: "+termsafe.String(msg))
	}
	return code
}
