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

// AdoptGroup takes over the worker cgroup at dir (no fd: the worker in it
// already runs, so no clone enters it again).
func AdoptGroup(dir string) *Group {
	return &Group{Dir: filepath.Clean(dir)}
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
