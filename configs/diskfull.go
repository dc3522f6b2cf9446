package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// DiskFull tells whether err is a file system out of space, out of
// inodes (both ENOSPC) or over a quota (EDQUOT). Unlike a read-only or
// foreign directory, it passes once someone frees space, so a start that
// meets it is worth retrying.
func DiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// FreeSpaceFix is what to do when the file system holding path is full.
func FreeSpaceFix(path string) string {
	return fmt.Sprintf("the file system of %s is full, out of inodes or over a quota: free space or inodes on it (df -h %s, df -i %s)", path, path, path)
}

// RuntimeDirFull words an error of EnsureRuntimeDir that DiskFull
// matches: what failed and how to free space, instead of the advice
// about volumes that fits a directory poold may not use.
func RuntimeDirFull(dir string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return fmt.Errorf("configs: runtime directory %s: %w; %s", dir, err, FreeSpaceFix(dir))
	}
	return fmt.Errorf("configs: runtime directory %s: %w; %s", dir, pe, FreeSpaceFix(filepath.Dir(pe.Path)))
}
