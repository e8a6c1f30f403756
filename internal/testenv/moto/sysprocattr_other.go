//go:build !linux

package moto

import "syscall"

// sysProcAttr puts moto in its own process group, so stop can kill the
// group. Only Linux can also tie moto's life to the test binary's.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
