package proctest

import (
	"bytes"
	"os"
	"strconv"
)

// Marked lists those of pids that run with env (KEY=VALUE) in their
// environment: neither ended (a zombie shows none) nor reaped and their
// pid taken by another program. A test that marks the processes it
// starts so can tell which of them outlived what should have ended them.
func Marked(pids []int, env string) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if string(kv) == env {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
