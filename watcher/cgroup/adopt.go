package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Handing the tree over to a new image of poold (in-place upgrade). The
// old image's fd of the tree directory carries its flock across the exec,
// so no other poold can take the tree in between, and the new image takes
// the tree as it is: no sweep, its workers' cgroups stay.

// LockFD is the fd of the tree's locked directory, to hand over.
func (t *Tree) LockFD() int { return int(t.lock.Fd()) }

// AdoptTree takes over the tree at dir, locked through lockFD (inherited
// across the exec), without sweeping it. New worker cgroups are numbered
// after the ones already there.
func AdoptTree(dir string, lockFD int) (*Tree, error) {
	var st unix.Stat_t
	if err := unix.Fstat(lockFD, &st); err != nil {
		return nil, fmt.Errorf("cgroup tree %s: inherited lock fd %d: %w", dir, lockFD, err)
	}
	unix.CloseOnExec(lockFD)
	t := &Tree{Dir: dir, lock: os.NewFile(uintptr(lockFD), dir), enabled: map[string]bool{}}
	t.adoptPassed()
	// The tree's directories in cgroup v1 hierarchies (limits on a hybrid
	// host) that the previous image made: its workers' v1 cgroups are in
	// them, and Close removes them.
	t.v1 = findV1()
	for i, h := range t.v1 {
		d := filepath.Join(h.own, filepath.Base(dir))
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			t.v1[i].tree = d
			t.enabled[h.ctrl] = true
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		// w-NAME.WID.SEQ
		if i := strings.LastIndexByte(e.Name(), '.'); e.IsDir() && i >= 0 {
			if n, err := strconv.ParseUint(e.Name()[i+1:], 10, 64); err == nil && n > t.seq.Load() {
				t.seq.Store(n)
			}
		}
	}
	return t, nil
}

// Adopted is a handed-over worker's cgroup, as the previous image knew it.
type Adopted struct {
	Dir      string // its v2 directory
	Watcher  string // the slot it may be parked for, as NewGroup names it
	Wid      int
	Limits   Limits
	OOMBase  int  // OOM kills of the workers it held before (Group.Handover)
	PidsBase int  // forks a pids limit refused to the workers it held before
	Killed   bool // it was killed through cgroup.kill
}

// AdoptGroup takes over a worker's cgroup (no fd: the worker in it
// already runs, so no clone enters it again), with its directories in
// the tree's v1 hierarchies: OOMKills reads them (memory on a hybrid
// host) and Remove removes them.
func (t *Tree) AdoptGroup(a Adopted) *Group {
	g := &Group{Dir: filepath.Clean(a.Dir), key: slotKey{watcher: a.Watcher, wid: a.Wid, lim: a.Limits}, oomBase: a.OOMBase, pidsBase: a.PidsBase}
	g.killed.Store(a.Killed)
	for _, h := range t.v1Hiers() {
		if h.tree == "" {
			continue
		}
		d := filepath.Join(h.tree, filepath.Base(g.Dir))
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			g.v1 = append(g.v1, d)
		}
	}
	return g
}

// Handover is what AdoptGroup needs of g beyond its directory: the OOM
// kills and refused forks not to count for its worker, and whether it
// was ever killed.
func (g *Group) Handover() (oomBase, pidsBase int, killed bool) {
	return g.oomBase, g.pidsBase, g.killed.Load()
}

// RemoveParked removes the worker cgroups in the tree that hold no process
// and are not among keep (the handed-over workers' cgroups): those the
// previous image had parked for its next workers (Park). A cgroup that
// holds a process is left: rmdir refuses it.
func (t *Tree) RemoveParked(keep []string) {
	kept := map[string]bool{}
	for _, d := range keep {
		kept[filepath.Clean(d)] = true
	}
	var v1 []string // the tree's directories in v1 hierarchies, if any
	for _, h := range findV1() {
		v1 = append(v1, filepath.Join(h.own, filepath.Base(t.Dir)))
	}
	ents, _ := os.ReadDir(t.Dir)
	for _, e := range ents {
		d := filepath.Join(t.Dir, e.Name())
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "w-") || kept[d] {
			continue
		}
		if unix.Rmdir(d) == nil {
			for _, tree := range v1 {
				_ = unix.Rmdir(filepath.Join(tree, e.Name()))
			}
		}
	}
}
