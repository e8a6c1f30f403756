//go:build unix

package remediate

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock without waiting: two applies on one journal at once
// would interleave their entries and both act.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
