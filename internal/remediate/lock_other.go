//go:build !unix

package remediate

import "os"

// lockFile is a no-op where flock does not exist: run one apply per journal at a time.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}

// openFlags: no O_NOFOLLOW here; the file is still checked to be a regular file after opening.
const openFlags = 0

func isSymlinkLoop(error) bool { return false }
