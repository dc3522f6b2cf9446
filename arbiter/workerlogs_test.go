package arbiter

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// Two workers' stdout and stderr, all into one file, with lines longer
// than the read buffer: every line arrives whole, once, in order per
// stream, the last ones included, and the ring has them all.
func TestSharedFileLinesNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "both.log")
	spec := configs.DefaultWatcher("web")
	spec.Logs.Stdout, spec.Logs.Stderr, spec.Logs.Ring = path, path, 100000
	o := newOutput(hclog.NewNullLogger(), true, events.NewBus(nil))
	const n = 2000
	pad := strings.Repeat("x", 5000) // longer than readSize: gathered
	var wg sync.WaitGroup
	for wid := 1; wid <= 2; wid++ {
		outR, outW, _ := os.Pipe()
		errR, errW, _ := os.Pipe()
		o.follow(spec, wid, 1000+wid, outR, errR)
		for _, s := range []struct {
			w    *os.File
			name string
		}{{outW, "out"}, {errW, "err"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.w.Close()
				bw := bufio.NewWriterSize(s.w, 3000) // lines straddle writes
				for i := 1; i <= n; i++ {
					fmt.Fprintf(bw, "%d %s %d %s\n", wid, s.name, i, pad)
				}
				bw.Flush()
			}()
		}
	}
	wg.Wait()
	o.close(hang)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var wid, i int
		var stream, rest string
		if _, err := fmt.Sscanf(sc.Text(), "%d %s %d %s", &wid, &stream, &i, &rest); err != nil || rest != pad {
			t.Fatalf("a broken line (%v): %.80q", err, sc.Text())
		}
		key := fmt.Sprint(wid, stream)
		if i != next[key]+1 {
			t.Fatalf("%s: line %d after %d", key, i, next[key])
		}
		next[key] = i
	}
	for _, k := range []string{"1out", "1err", "2out", "2err"} {
		if next[k] != n {
			t.Errorf("%s: %d lines, want %d", k, next[k], n)
		}
	}
	if pl := o.lookup("web"); pl == nil || pl.ring.Last() != 4*n {
		t.Errorf("ring counted %v lines, want %d", pl.ring.Last(), 4*n)
	}
}
