//go:build !unix

package remediate

import "os"

// lockFile is a no-op where flock does not exist: run one apply per journal at a time.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
