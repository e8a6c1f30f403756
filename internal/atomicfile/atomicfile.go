// Package atomicfile writes a file so that readers see either the old content or the new, never
// half of it: the bytes go to a temporary file in the destination's directory, which is renamed
// over the destination only once everything was written and synced.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckDestination reports whether path may be written: either nothing is there and its
// directory exists, or a regular file is there. Anything else (a directory, a symbolic link, a
// device, a FIFO, a socket) is refused: renaming over it would replace something that is not a
// plain file the user asked for, and /dev/stdout-style paths would be silently replaced.
func CheckDestination(path string) error {
	info, err := os.Lstat(path)
	switch {
	case err == nil:
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s); refusing to replace it", path, describeMode(info.Mode()))
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		d, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("%s: directory %s: %w", path, dir, errors.Unwrap(err))
		}
		if !d.IsDir() {
			return fmt.Errorf("%s: %s is not a directory", path, dir)
		}
		return nil
	default:
		return err
	}
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// File is a temporary file that becomes path on Commit. Write to it like any *os.File.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path. The file gets perm, or the mode of the regular file it replaces.
func Create(path string, perm fs.FileMode) (*File, error) {
	if err := CheckDestination(path); err != nil {
		return nil, err
	}
	if info, err := os.Lstat(path); err == nil {
		perm = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return &File{File: tmp, path: path}, nil
}

// Commit syncs the temporary file and renames it over the destination. The destination is
// checked again first, so a directory or link put there meanwhile is not replaced.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = CheckDestination(f.path)
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort drops the temporary file and leaves the destination as it was. It is a no-op after
// Commit, so `defer f.Abort()` is safe.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically, as os.WriteFile does non-atomically.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// SyncDir makes a new or renamed entry of directory dir durable (a file created or renamed
// there). Filesystems that cannot sync a directory are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
