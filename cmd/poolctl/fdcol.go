package main

import "fmt"

// The FDS column of stats --extended: each process's open file
// descriptors over its soft RLIMIT_NOFILE ("498/512"), "FULL" once no
// more can be opened: such a worker may still show ready while every
// open() and accept() fails with "too many open files".

// anyFDs tells whether a reply carries fd figures (poold answered
// --extended; Circus and older poolds do not).
func anyFDs(rows []procRow) bool {
	for _, r := range rows {
		if _, ok := r.info["fds"]; ok {
			return true
		}
	}
	return false
}

// fdCell is in's FDS cell with its tab, or "" without the column.
func fdCell(in map[string]any, column bool) string {
	if !column {
		return ""
	}
	open, ok := in["fds"].(float64)
	if !ok {
		return "-\t"
	}
	limit, _ := in["fds_limit"].(float64)
	switch {
	case limit < 0:
		return fmt.Sprintf("%.0f/unlimited\t", open)
	case limit > 0 && open >= limit:
		return fmt.Sprintf("%.0f/%.0f FULL\t", open, limit)
	}
	return fmt.Sprintf("%.0f/%.0f\t", open, limit)
}
