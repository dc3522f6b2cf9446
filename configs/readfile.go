package configs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ReadLimited reads the file at path (a config, a circus.ini or
// supervisord file or one they include) with the error of os.ReadFile,
// or an *Error for one larger than maxFileSize or one that is not a
// regular file.
//
// A FIFO's open blocks until something writes to it, and a device may
// never end: a config path that named one jammed every later reload,
// upgrade and poold's exit behind the read, and hung poold --check. So
// the path is stat'ed first (a link to a regular file is fine) and opened
// with O_NONBLOCK (a FIFO's open then returns at once; a regular file
// reads as before), and the open file is checked again, in case the path
// was replaced in between.
func ReadLimited(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if err := notRegular(path, fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := notRegular(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: path, Problems: []Problem{{Msg: fmt.Sprintf(
			"the file is larger than %d MiB, more than poold reads as a config (10,000 watchers take a few MB): look for a generated file gone wrong", maxFileSize>>20)}}}
	}
	return data, nil
}

// notRegular is the error for a config path whose file fi is not a
// regular file, nil for one that is. A directory keeps the error of
// os.ReadFile (EISDIR), which ReadError words.
func notRegular(path string, fi fs.FileInfo) error {
	m := fi.Mode()
	if m.IsRegular() {
		return nil
	}
	if m.IsDir() {
		return &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	}
	kind := "a special file (" + m.Type().String() + ")"
	switch {
	case m&fs.ModeNamedPipe != 0:
		kind = "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return &Error{File: path, Problems: []Problem{{Msg: "the file is " + kind +
		", not a regular file: poold reads a config only from a regular file (opening a FIFO waits for a writer, a device may never end); write the config to a file and name that file"}}}
}
