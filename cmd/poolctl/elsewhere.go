package main

import (
	"io/fs"
	"os"
	"syscall"

	"github.com/poold/poold/configs/rundir"
)

// controlCandidates lists the control sockets a poold of this user may
// listen on by default (tests replace it).
var controlCandidates = rundir.Candidates

// elsewhere returns the endpoint of a control socket of this user's at
// another default place than tried, or "": a poold started in another
// environment (under systemd, no XDG_RUNTIME_DIR) chose another
// directory. A socket another user owns is never named.
func elsewhere(tried string) string {
	for _, p := range controlCandidates() {
		if "ipc://"+p == tried {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Type() != fs.ModeSocket {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
			continue
		}
		return "ipc://" + p
	}
	return ""
}
