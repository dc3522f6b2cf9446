package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fillFS fills the file system of dir: its inodes with empty files when
// inodes is set, else its blocks with one file.
func fillFS(t *testing.T, dir string, inodes bool) {
	t.Helper()
	var err error
	if inodes {
		for i := 0; err == nil; i++ {
			var f *os.File
			if f, err = os.Create(filepath.Join(dir, "f"+strconv.Itoa(i))); err == nil {
				f.Close()
			}
		}
	} else {
		var f *os.File
		if f, err = os.Create(filepath.Join(dir, "filler")); err != nil {
			t.Fatal(err)
		}
		block := make([]byte, 4096)
		for err == nil {
			_, err = f.Write(block)
		}
		f.Close()
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
}

// A full runtime-dir file system or a full TMPDIR (for notify sockets)
// at start exited 78, "the config cannot be used", which the README's
// systemd unit (RestartPreventExitStatus=64 78) never restarts, with
// advice to mount a writable volume: poold stayed down after the space
// came back (r67 diskfull F1). A full disk passes: exit 1, and say to
// free space or inodes.
func TestFullDiskAtStartExitsToBeRetried(t *testing.T) {
	t.Parallel()
	const notifyCfg = "[watchers.n]\ncmd = \"sleep 100\"\nreadiness = \"notify\"\n"
	const plainCfg = "[watchers.p]\ncmd = \"sleep 100\"\n"
	// Out of inodes: a tmpfs out of blocks still makes directories.
	for _, c := range []struct {
		name   string
		notify bool // TMPDIR full, else the runtime dir's file system
		inodes bool
	}{
		{"runtime dir out of inodes", false, true},
		{"notify TMPDIR out of inodes", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			full := mountTmpfs(t, "size=256k,nr_inodes=16")
			fillFS(t, full, c.inodes)
			cfgDir := t.TempDir()
			run, tmp, body := full, cfgDir, plainCfg
			if c.notify {
				run, tmp, body = cfgDir, full, notifyCfg+plainCfg
			}
			cfg := filepath.Join(cfgDir, "poold.toml")
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runBin(t, append(os.Environ(), "XDG_RUNTIME_DIR="+run, "TMPDIR="+tmp), cfg)
			if code != exitFailure {
				t.Errorf("poold with %s exited %d, want %d (a retry may pass):\n%s", c.name, code, exitFailure, stderr)
			}
			for _, w := range []string{"no space left on device", "df -i " + full, "free space or inodes"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("no %q in:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "mount") {
				t.Errorf("advice to mount a volume for a full disk:\n%s", stderr)
			}
		})
	}
}
