package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCheckRefusesAFIFO: poold --check of a config path that is a FIFO
// hung forever in the open (nothing writes to it); it fails at once,
// naming the file and what it is.
func TestCheckRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb) }()
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Error("--check of a FIFO still blocked after 20s")
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil { // ends the blocked read
			f.Close()
		}
		code = <-done
	}
	want := path + ": the file is a FIFO (named pipe), not a regular file"
	if code != exitConfig || !strings.Contains(errb.String(), want) {
		t.Errorf("--check of a FIFO: exit %d, stderr %q; want 78 and %q", code, errb.String(), want)
	}
}
