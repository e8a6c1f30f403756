//go:build unix

package remediate

import (
	"errors"
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

// openFlags are added to every journal open: never follow a symbolic link (one planted in a
// shared directory would redirect the journal onto another file), and never block opening a
// FIFO (it is refused as not a regular file right after).
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// isSymlinkLoop reports the error O_NOFOLLOW gives for a symbolic link.
func isSymlinkLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
