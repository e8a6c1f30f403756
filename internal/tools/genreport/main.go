// Command genreport writes a synthetic credential report for benchmarks:
//
//	go run ./internal/tools/genreport -users 5000 > /tmp/report-5000.csv
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/setupkeys/setupkeys/internal/credreport/reportgen"
)

func main() {
	users := flag.Int("users", 5000, "number of IAM users")
	account := flag.String("account", "123456789012", "account ID in the ARNs")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	if err := reportgen.Write(os.Stdout, *account, *users, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genreport:", err)
		os.Exit(1)
	}
}
