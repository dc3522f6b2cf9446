package supervisorini

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// readGroups notes which [group:NAME] each program belongs to (its
// programs= list): supervisord's %(group_name)s and SUPERVISOR_GROUP_NAME.
func (t *translator) readGroups() {
	t.groups = map[string]string{}
	for _, s := range t.ini.Sections {
		g, ok := strings.CutPrefix(s.Name, "group:")
		if !ok {
			continue
		}
		progs, _ := s.Get("programs")
		for _, p := range strings.Split(progs, ",") {
			if p = strings.TrimSpace(p); p != "" {
				t.groups[p] = g
			}
		}
	}
}

// groupPriority maps the priority of a program listed in a [group:NAME]:
// supervisord starts and stops a group as a whole at the group's
// priority (default 999, whatever its programs' own priorities), and a
// program's own priority orders it only within its group. poold has one
// priority per watcher: the group's (999 minus it, as priority maps),
// with a warning when the program's own one would have ordered it
// within the group.
func (t *translator) groupPriority(out *translate.Section, s *translate.INISection, name string) {
	g, ok := t.groups[name]
	if !ok {
		return
	}
	gs := t.ini.Section("group:" + g)
	n := 999
	if v, ok := gs.Get("priority"); ok {
		v = strings.TrimSpace(t.expand(gs, "priority", v, scope{}))
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.refuse(gs, "priority", fmt.Sprintf("%q: want a whole number, as supervisord does", v))
			return
		}
	}
	out.Set("priority", int64(999-n))
	msg := fmt.Sprintf("in [group:%s]: supervisord starts and stops a group's programs together, at the group's priority (%d), so this watcher gets priority %d (999 minus it)", g, n, 999-n)
	if !t.orderedWithin(g) {
		t.info(out, s, "priority", msg)
		return
	}
	t.warn(out, s, "priority", msg+"; the own priorities of the group's programs only ordered them within the group, which one poold priority cannot say: they start and stop together. Give them one priority, or take the program out of the group, to silence this")
}

// orderedWithin reports whether the programs of [group:g] have own
// priorities (default 999) that differ, so supervisord orders them
// within the group.
func (t *translator) orderedWithin(g string) bool {
	first := ""
	for prog, group := range t.groups {
		if group != g {
			continue
		}
		p := "999"
		for _, kind := range []string{"program:", "fcgi-program:"} {
			if s := t.ini.Section(kind + prog); s != nil {
				if v, ok := s.Get("priority"); ok {
					p = strings.TrimSpace(v)
				}
			}
		}
		if first == "" {
			first = p
		} else if p != first {
			return true
		}
	}
	return false
}
