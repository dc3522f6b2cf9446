package main

import "fmt"

// The CGROUP MEM column of stats: for a worker under memory_max, the
// memory its own cgroup is charged over the limit, with the peak since
// the worker started ("41M/96M, peak 45M"), as systemctl status shows a
// unit's ("Memory: 80.1M (max: 100.0M, peak: 96M)"). That charge, not
// RSS, is what the kernel's OOM killer judges: it counts the worker's
// children, page cache and kernel memory, and shared pages once.

// anyCgroupMemory tells whether a reply carries cgroup memory figures (a
// watcher with memory_max; Circus and older poolds send none).
func anyCgroupMemory(rows []procRow) bool {
	for _, r := range rows {
		if _, ok := r.info["cgroup_memory"]; ok {
			return true
		}
	}
	return false
}

// cgroupMemoryCell is in's CGROUP MEM cell with its tab, or "" without the
// column; "-" for a worker without memory_max.
func cgroupMemoryCell(in map[string]any, column bool) string {
	if !column {
		return ""
	}
	cur, ok := in["cgroup_memory"].(float64)
	if !ok {
		return "-\t"
	}
	cell := humanBytes(cur)
	if max, ok := in["memory_max"].(float64); ok && max > 0 {
		cell += fmt.Sprintf("/%s (%.0f%%)", humanBytes(max), 100*cur/max)
	}
	if peak, ok := in["cgroup_memory_peak"].(float64); ok {
		cell += ", peak " + humanBytes(peak)
	}
	return cell + "\t"
}
