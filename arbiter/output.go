package arbiter

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// output logs what workers write to stdout and stderr, line by line, with
// the watcher, wid, pid and stream as fields. Each pipe has one reader
// goroutine that runs until EOF, which comes once the worker and anything
// it left holding the pipe are gone, so a worker's last lines are logged
// even after its exit was handled.
//
// Concurrency: follow and close are called from the arbiter's loop and
// Run; the readers are tracked by a WaitGroup and by the set of open pipes
// (a small shared leaf under mu) so close can cut off readers held open by
// an escaped grandchild.
//
// A reader waits for nothing but its pipe: poold's logger writes into a
// bounded queue in front of stderr (arbiter/logsink, wired by cmd/poold)
// that drops lines rather than block, so a worker that writes fast is held
// up only by its own pipe buffer, never by a stderr nobody reads.
type output struct {
	log  hclog.Logger
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[*os.File]struct{}
}

func newOutput(log hclog.Logger) *output {
	return &output{log: log, open: make(map[*os.File]struct{})}
}

// maxLine is the longest line logged in one piece; longer lines are split.
// Reads go through a small buffer (most lines are short, and a pool of a
// thousand workers has two thousand readers); a longer line is gathered.
const (
	maxLine  = 64 * 1024
	readSize = 4096
)

func (o *output) follow(watcher string, wid, pid int, stdout, stderr *os.File) {
	log := o.log.Named("worker").With("watcher", watcher, "wid", wid, "pid", pid)
	for _, s := range []struct {
		f    *os.File
		name string
	}{{stdout, "stdout"}, {stderr, "stderr"}} {
		o.mu.Lock()
		o.open[s.f] = struct{}{}
		o.mu.Unlock()
		o.wg.Add(1)
		go o.read(s.f, log.With("stream", s.name))
	}
}

func (o *output) read(f *os.File, log hclog.Logger) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		delete(o.open, f)
		o.mu.Unlock()
		f.Close()
	}()
	r := bufio.NewReaderSize(f, readSize)
	var long []byte // a line longer than the buffer, gathered up to maxLine
	for {
		chunk, err := r.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if full && len(long)+len(chunk) < maxLine {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			log.Info(string(line))
		}
		if err != nil && !full {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				log.Debug("reading worker output failed", "error", err)
			}
			return
		}
	}
}

// close waits up to grace for the readers to reach EOF, then closes the
// pipes still held open (by a process that escaped its group) and waits for
// their readers to return.
func (o *output) close(grace time.Duration) {
	finished := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return
	case <-time.After(grace):
	}
	o.mu.Lock()
	for f := range o.open {
		f.Close()
	}
	o.mu.Unlock()
	<-finished
}
