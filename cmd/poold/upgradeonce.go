package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"

	"github.com/poold/poold/arbiter/upgrade"
	"golang.org/x/sys/unix"
)

// An upgrade that waits for its watchers to settle runs its pre-flight
// again after each wait (arbiter.execUpgrade): the binary or the config
// may have changed meanwhile. Each run forks the new binary twice, and
// under a crash loop or a busy rollout the wait came back every 0.4 s or
// so (a soak: 50 pre-flights for 28 upgrades). The checks depend only on
// the file run (the open file: its inode, size and mtime), the config as
// it loads now, and what --upgrade-check reads of the state (its format
// and each watcher's user and group, as they resolve now), so a
// pre-flight whose inputs are as the last passing one had them gives
// that one's outcome without running the binary again.

// checkInputs digests what a pre-flight of the binary open in c checks,
// apart from the file itself: the config at path (strict or not), and of
// the state the watchers' users and groups. "" when that cannot be told
// (the pre-flight then runs).
func checkInputs(path string, strict bool, state []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "strict %v\n", strict)
	cfg, err := inputsLoad(path, strict, io.Discard)
	if err != nil {
		return "" // the new binary says what is wrong with it
	}
	if err := json.NewEncoder(h).Encode(cfg); err != nil {
		return ""
	}
	st, err := upgrade.Decode(bytes.NewReader(state))
	if err != nil {
		return ""
	}
	fmt.Fprintf(h, "state format %d\n", st.Version)
	for _, w := range st.Config.Watchers {
		cred, err := w.Credential()
		fmt.Fprintf(h, "watcher %q uid %q gid %q: %v %v\n", w.Name, w.UID, w.GID, cred, err)
	}
	return string(h.Sum(nil))
}

// passed records that the binary open in c passed a pre-flight on
// inputs (checkInputs), saying version.
func (c *checkedExe) passed(inputs, version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.inputs, c.version = inputs, version
	}
}

// passedBefore returns the version the last pre-flight found, when it
// passed on these inputs and the file at path is still the one it ran,
// unwritten since: running it again would tell nothing new.
func (c *checkedExe) passedBefore(path, inputs string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil || inputs == "" || c.inputs != inputs || c.path != path || !holds(path, c.st) {
		return "", false
	}
	var st unix.Stat_t
	if unix.Fstat(int(c.f.Fd()), &st) != nil || st.Size != c.st.Size || st.Mtim != c.st.Mtim {
		return "", false
	}
	return c.version, true
}
