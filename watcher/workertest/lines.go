package workertest

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// writeLines is the "lines" mode: "out N" to stdout and "err N" to stderr,
// N from 1, alternately, through 64 KiB buffers (whole lines may straddle
// two writes, as a real program's do), until $LINES_FOR has passed and
// the file $LINES_DONE/stop exists (a test's go-ahead). It then writes "N"
// (lines per stream) to $LINES_DONE/<pid> and blocks until SIGTERM or
// SIGINT.
//
// With $LINES_N it writes exactly that many lines (to stdout only when
// $LINES_STDOUT_ONLY is 1) and does not wait for the stop file: the
// benchmarks' fixed workload.
func writeLines() error {
	count, _ := strconv.Atoi(os.Getenv("LINES_N"))
	stdoutOnly := os.Getenv("LINES_STDOUT_ONLY") == "1"
	d, err := time.ParseDuration(os.Getenv("LINES_FOR"))
	if err != nil && count == 0 {
		return fmt.Errorf("LINES_FOR: %v", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	errw := bufio.NewWriterSize(os.Stderr, 64<<10)
	deadline := time.Now().Add(d)
	stop := filepath.Join(os.Getenv("LINES_DONE"), "stop")
	stopped := func() bool { _, err := os.Stat(stop); return err == nil }
	var n int
	var line []byte
	for n = 1; ; n++ {
		line = strconv.AppendInt(append(line[:0], "out "...), int64(n), 10)
		line = append(line, '\n')
		if _, err := out.Write(line); err != nil {
			return err
		}
		if !stdoutOnly {
			line[0], line[1], line[2] = 'e', 'r', 'r'
			if _, err := errw.Write(line); err != nil {
				return err
			}
		}
		if count > 0 {
			if n == count {
				break
			}
			continue
		}
		if n%1024 == 0 && time.Now().After(deadline) && stopped() {
			break
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := errw.Flush(); err != nil {
		return err
	}
	mark := filepath.Join(os.Getenv("LINES_DONE"), strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(mark+".tmp", []byte(strconv.Itoa(n)), 0o644); err != nil {
		return err
	}
	if err := os.Rename(mark+".tmp", mark); err != nil {
		return err
	}
	<-sigs
	return nil
}
