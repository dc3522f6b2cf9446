package watcher

import (
	"errors"
	"syscall"

	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/spawn"
)

// procSpec builds the exec request for slot wid (package launch does the
// work: variables, environment, the program found and checked). The
// watcher's user and group are looked up again first (refreshCred), so
// every start, a respawn too, runs with the ids their names have now.
func (w *Watcher) procSpec(wid int) (spawn.ProcSpec, error) {
	if err := w.refreshCred(); err != nil {
		return spawn.ProcSpec{}, err
	}
	c, err := launch.Build(w.spec, w.socks, wid, w.cred)
	if err != nil {
		return spawn.ProcSpec{}, err
	}
	return spawn.ProcSpec{
		Path: c.Path, Argv: c.Argv, Env: c.Env, Dir: c.Dir, Files: c.Files,
		Credential: c.Credential, Umask: c.Umask, Rlimits: c.Rlimits, Listen: c.Listen,
		Nice: c.Nice, OOMScoreAdj: c.OOMScoreAdj, Chroot: c.Chroot,
	}, nil
}

// vars are the $(pool.X) variables of slot wid.
func (w *Watcher) vars(wid int) map[string]string {
	return launch.Vars(w.spec, w.socks, wid, "")
}

// probeEnv is the environment of an exec health check of p.
func (w *Watcher) probeEnv(p *Process) []string {
	return launch.ProbeEnv(w.spec, w.socks, p.Wid, p.Pid)
}

// explainSpawn adds to a spawn of slot wid that failed with E2BIG which
// keys of the spec made its command line and environment too big.
func (w *Watcher) explainSpawn(wid int, err error) error {
	if !errors.Is(err, syscall.E2BIG) {
		return err
	}
	c, berr := launch.Build(w.spec, w.socks, wid, w.cred)
	if berr != nil {
		return err
	}
	return launch.ExplainSpawn(err, w.spec, c)
}
