package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotRunnable is what scriptProblem's errors wrap: the file is there
// and executable, but the kernel's execve would refuse it.
var ErrNotRunnable = errors.New("the kernel cannot run it")

// scriptHead is how much of a program scriptProblem reads: the kernel
// reads at most 256 bytes of a #! line.
const scriptHead = 256

// scriptProblem looks at the start of the program at path (inside root,
// "" for "/") for what makes execve fail although the file is there and
// executable, where the failure names nothing useful: a script without a
// #! line ("exec format error"), a #! line ending in a carriage return or
// naming an interpreter that is not there (both "no such file or
// directory", about a file that is there). A binary (ELF, or anything
// with a NUL byte in its head, as binfmt_misc formats have) passes.
func scriptProblem(root, path string) error {
	full := path
	if root != "" {
		full = filepath.Join(root, path)
	}
	f, err := os.Open(full)
	if err != nil {
		return nil // not readable by poold: the worker's user may read it
	}
	defer f.Close()
	head := make([]byte, scriptHead)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil
	}
	head = head[:n]
	if n == 0 {
		return fmt.Errorf("%s: %w: the file is empty", path, ErrNotRunnable)
	}
	if !bytes.HasPrefix(head, []byte("#!")) {
		if bytes.HasPrefix(head, []byte("\x7fELF")) || bytes.IndexByte(head, 0) >= 0 {
			return nil
		}
		return fmt.Errorf("%s: %w (exec format error): it is text without a #! line; make its first line #!/bin/sh (or the interpreter it is written for)", path, ErrNotRunnable)
	}
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	interp, _, _ := strings.Cut(strings.TrimLeft(string(line), " \t"), " ")
	interp, _, _ = strings.Cut(interp, "\t")
	switch {
	case bytes.HasSuffix(line, []byte("\r")):
		// Also "#!/usr/bin/env python3\r": env then looks for "python3\r".
		words := strings.FieldsFunc(string(line), func(r rune) bool { return r == ' ' || r == '\t' })
		what, last := "interpreter", words[len(words)-1]
		if len(words) > 1 {
			what = "program"
		}
		return fmt.Errorf("%s: %w: its #! line ends in a carriage return (Windows line endings), so the %s looked for is %q; convert the file with dos2unix", path, ErrNotRunnable, what, last)
	case interp == "" || !filepath.IsAbs(interp):
		return nil // the kernel resolves a relative one from the working directory
	}
	if root != "" {
		if !existsIn(root, interp) {
			return fmt.Errorf("%s: %w: its #! interpreter %s is not there (inside %s); install it, or correct the #! line", path, ErrNotRunnable, interp, root)
		}
		return nil
	}
	if _, err := os.Stat(interp); errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w: its #! interpreter %s is not there; install it, or correct the #! line", path, ErrNotRunnable, interp)
	}
	return nil
}

// existsIn reports whether p exists inside root as a process chrooted
// there sees it: a link's absolute target is inside root too (Alpine's
// /bin/sh -> /bin/busybox), where os.Stat of root+p would follow it on
// the host. Past 40 links it does not judge (true).
func existsIn(root, p string) bool {
	for range 40 {
		cur, rest := "/", strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
		linked := false
		for i, part := range rest {
			next := filepath.Join(cur, part)
			fi, err := os.Lstat(filepath.Join(root, next))
			if err != nil {
				return false
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				target, err := os.Readlink(filepath.Join(root, next))
				if err != nil {
					return false
				}
				if !filepath.IsAbs(target) {
					target = filepath.Join(cur, target)
				}
				p, linked = filepath.Join(append([]string{target}, rest[i+1:]...)...), true
				break
			}
			cur = next
		}
		if !linked {
			return true
		}
	}
	return true
}
