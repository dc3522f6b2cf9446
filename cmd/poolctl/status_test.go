package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The status shapes poold's arbiter adds (reason, reasons, slots) and the
// Circus shapes without them. time is the reply's own clock, which
// retry_at is compared with.
func TestFormatStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply string
		want  string
	}{
		{"one, Circus shape", `{"status":"active","time":1700000000}`, lines("active")},
		{"one, healthy with every slot running", `{"status":"active","time":1700000000,"slots":[
			{"wid":1,"state":"running","pid":100,"restarts":0,"last_exit":"","retry_at":0},
			{"wid":2,"state":"ready","pid":101,"restarts":0,"last_exit":"","retry_at":0}]}`,
			lines("active")},
		{"one, flapping with slots in trouble", `{"status":"flapping","time":1700000000,
			"reason":"worker exited with status 3 within 1s of start, 5 times in 10s",
			"slots":[
			{"wid":3,"state":"paused","pid":0,"restarts":5,"last_exit":"exited with status 3","retry_at":1700000007},
			{"wid":1,"state":"running","pid":100,"restarts":0,"last_exit":"","retry_at":0},
			{"wid":2,"state":"backoff","pid":0,"restarts":2,"last_exit":"killed by signal KILL","retry_at":1700000000.4},
			{"wid":4,"state":"stopping","pid":104,"restarts":0,"last_exit":"","retry_at":0}]}`,
			lines(
				"flapping",
				"reason: worker exited with status 3 within 1s of start, 5 times in 10s",
				"stopping: 1 worker still draining: wid 4 (pid 104)",
				"WID  STATE    PID  RESTARTS  RETRY  LAST EXIT",
				"2    backoff  -    2         now    killed by signal KILL",
				"3    paused   -    5         in 7s  exited with status 3")},
		// The old workers of a reload finishing their jobs: README said
		// status NAME shows them, and it printed "active" alone (r59b).
		{"one, old workers draining after a reload", `{"status":"active","time":1700000000,"slots":[
			{"wid":1,"state":"ready","pid":201,"restarts":0,"last_exit":"","retry_at":0},
			{"wid":2,"state":"ready","pid":202,"restarts":0,"last_exit":"","retry_at":0},
			{"wid":3,"state":"stopping","pid":101,"restarts":0,"last_exit":"","retry_at":0},
			{"wid":4,"state":"stopping","pid":102,"restarts":0,"last_exit":"","retry_at":0}]}`,
			lines(
				"active",
				"stopping: 2 workers still draining: wid 3 (pid 101), wid 4 (pid 102)")},
		// How long a drain may last: the SIGKILL at graceful_timeout
		// (r61 longconn trial: nothing said).
		{"one, old workers draining, with their deadlines", `{"status":"active","time":1700000000,"slots":[
			{"wid":1,"state":"ready","pid":201,"restarts":0,"last_exit":"","retry_at":0},
			{"wid":3,"state":"stopping","pid":101,"restarts":0,"last_exit":"","retry_at":0,"kill_at":1700000004.1,"kill_in":4.087},
			{"wid":4,"state":"stopping","pid":102,"restarts":0,"last_exit":"","retry_at":0,"kill_at":1700000000,"kill_in":0}]}`,
			lines(
				"active",
				"stopping: 2 workers still draining: wid 3 (pid 101, SIGKILL in 4.1s), wid 4 (pid 102, SIGKILL in 0s)")},
		{"one, stopping, its workers not listed again", `{"status":"stopping","time":1700000000,"slots":[
			{"wid":1,"state":"stopping","pid":101,"restarts":0,"last_exit":"","retry_at":0}]}`,
			lines("stopping")},
		{"one, failed", `{"status":"failed","time":1700000000,"reason":"2 slots gave up",
			"slots":[
			{"wid":1,"state":"failed","pid":0,"restarts":6,"last_exit":"spawn error: exec: \"nope\": executable file not found in $PATH","retry_at":0},
			{"wid":2,"state":"exited","pid":0,"restarts":1,"last_exit":"exited with status 0","retry_at":0}]}`,
			lines(
				"failed",
				"reason: 2 slots gave up",
				"WID  STATE   PID  RESTARTS  RETRY  LAST EXIT",
				`1    failed  -    6         -      spawn error: exec: "nope": executable file not found in $PATH`,
				"2    exited  -    1         -      exited with status 0")},
		// A set of hours ago that a reload kept, the file having left the
		// key alone: the on-call's restored file did not undo it, and
		// nothing showed it (r57 trial M4).
		{"one, keys set at run time", `{"status":"active","time":1700000000,"overrides":[
			{"key":"max_cpu","value":"40","file":"0","set_at":1699992500,"set_by":"set from uid 0 gid 0 pid 4242 (poolctl)"},
			{"key":"rlimits.nofile","value":"512","file":"none"}]}`,
			lines(
				"active",
				"set at run time: max_cpu = 40 (file: 0), by set from uid 0 gid 0 pid 4242 (poolctl) 2h05m ago",
				"set at run time: rlimits.nofile = 512 (file: none)")},
		{"one, unknown slot state is listed", `{"status":"active","time":1700000000,"slots":[
			{"wid":1,"state":"limbo","pid":7,"restarts":0}]}`,
			lines(
				"active",
				"WID  STATE  PID  RESTARTS  RETRY  LAST EXIT",
				"1    limbo  7    0         -      -")},
		{"table, Circus shape", `{"status":"ok","statuses":{"web":"active","db-worker":"stopped"}}`,
			lines(
				"WATCHER    STATUS",
				"db-worker  stopped",
				"web        active")},
		{"table with reasons", `{"status":"ok",
			"statuses":{"web":"active","api":"failed","cron":"stopped","queue":"flapping"},
			"reasons":{"api":"2 slots gave up","queue":"exited with status 1, 5 times in 10s"}}`,
			lines(
				"WATCHER  STATUS    REASON",
				"api      failed    2 slots gave up",
				"cron     stopped",
				"queue    flapping  exited with status 1, 5 times in 10s",
				"web      active")},
		// During poold's stop an elastic pool with no process left
		// showed "stopped  3 (1..4)", its next start's size: the
		// workers still alive now (the ws trial).
		{"table, elastic pools stopping and stopped", `{"status":"ok",
			"statuses":{"el":"stopped","gr":"stopping","web":"active"},
			"sizes":{"el":{"elastic":true,"current":3,"min":1,"max":4,"running":0,"configured":3},
				"gr":{"elastic":true,"current":3,"min":1,"max":4,"running":2,"configured":3},
				"web":{"elastic":true,"current":5,"min":1,"max":8,"running":6,"configured":3}}}`,
			lines(
				"WATCHER  STATUS    WORKERS",
				"el       stopped   0 (1..4)",
				"gr       stopping  2 (1..4)",
				"web      active    5 (1..8)")},
		{"one, elastic and stopped", `{"status":"stopped","time":1700000000,
			"size":{"elastic":true,"current":3,"min":1,"max":4,"running":0,"configured":3,"queue":0}}`,
			lines(
				"stopped",
				"workers: 0 (min 1, max 4, numprocesses 3), accept queue 0")},
		// A max_age recycle whose replacement waits for a wid held by
		// draining workers showed as a plain ready slot (not listed).
		{"one, a recycle waiting for a wid", `{"status":"active","time":1700000000,"slots":[
			{"wid":3,"state":"ready","pid":103,"restarts":0,"last_exit":"","retry_at":0,
			 "recycle":"max_age; its replacement waits for a free wid (2 workers still stopping)"},
			{"wid":4,"state":"ready","pid":104,"restarts":0,"last_exit":"","retry_at":0}]}`,
			lines(
				"active",
				"WID  STATE                                                                                            PID  RESTARTS  RETRY  LAST EXIT",
				"3    ready, being replaced: max_age; its replacement waits for a free wid (2 workers still stopping)  103  0         -")},
		{"table with empty reasons", `{"status":"ok","statuses":{"web":"active"},"reasons":{}}`,
			lines(
				"WATCHER  STATUS",
				"web      active")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := formatReply(&b, "status", decode(t, tc.reply)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s\ngot:\n%s", diff, b.String())
			}
		})
	}
}

func TestFormatReloadOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
		reply   string
		want    string
	}{
		{"reloadconfig, Circus shape", "reloadconfig", `{"status":"ok"}`, lines("ok")},
		{"reload, Circus shape", "reload", `{"status":"ok"}`, lines("ok")},
		{"reloadconfig, every watcher", "reloadconfig", `{"status":"ok",
			"added":["new"],"removed":["old"],"updated":["web"],"unchanged":["cron","db"]}`,
			lines("cron: unchanged", "db: unchanged", "new: added", "old: removed", "web: updated")},
		{"reloadconfig, rolled back wins over updated", "reloadconfig", `{"status":"ok",
			"updated":["web","api"],"unchanged":[],
			"rolled_back":{"api":"new worker pid 123 (wid 2) exited with status 1 before it was ready"}}`,
			lines("api: rolled back: new worker pid 123 (wid 2) exited with status 1 before it was ready", "web: updated")},
		{"reloadconfig, added but not started", "reloadconfig", `{"status":"error","errno":6,
			"added":["bad","new"],"unchanged":["web"],
			"not_started":{"bad":"watcher \"bad\" wid 1 has no worker (backoff: spawn error: argument list too long)"}}`,
			lines(`bad: added, not started: watcher "bad" wid 1 has no worker (backoff: spawn error: argument list too long)`,
				"new: added", "web: unchanged")},
		{"reloadconfig, cut short", "reloadconfig", `{"status":"error","errno":6,
			"updated":["api"],"unchanged":[],
			"cut_short":{"web":"a stop came in before every worker was replaced: it is stopped, with the new settings, which its next start runs (poolctl start web)"}}`,
			lines("api: updated", "web: cut short: a stop came in before every worker was replaced: it is stopped, with the new settings, which its next start runs (poolctl start web)")},
		{"reload with outcome", "reload", `{"status":"ok","updated":["web"]}`, lines("web: updated")},
		// r59b docs L1: a changed one-shot a reload ran again is updated,
		// not added.
		{"reloadconfig, a changed one-shot ran again", "reloadconfig", `{"status":"error","errno":6,
			"added":["job"],"updated":["migrate"],"unchanged":[],
			"failed":{"migrate":"watcher \"migrate\" ran and failed: wid 1 exited with status 3"},
			"ended":{"job":"watcher \"job\" ran and ended: wid 1 exited with status 0"}}`,
			lines(`job: added, then watcher "job" ran and ended: wid 1 exited with status 0`,
				`migrate: updated, then watcher "migrate" ran and failed: wid 1 exited with status 3`)},
		{"reloadconfig, sockets too", "reloadconfig", `{"status":"ok","updated":["web"],"unchanged":[],
			"sockets":{"added":["s2"],"removed":["u"],"updated":["web"]}}`,
			lines("web: updated", "socket s2: added", "socket u: removed", "socket web: updated")},
		{"reloadconfig, a socket renamed", "reloadconfig", `{"status":"ok","updated":["web"],"unchanged":[],
			"sockets":{"added":[],"removed":[],"updated":[],"renamed":{"web":"front"}}}`,
			lines("web: updated", "socket web: renamed to front")},
		{"reload waiting info", "reload", `{"status":"ok","info":{"started":[20],"stopped":[10],"kept":[]}}`,
			lines("started:  20", "stopped:  10", "kept:     -")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := formatReply(&b, tc.command, decode(t, tc.reply)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s\ngot:\n%s", diff, b.String())
			}
		})
	}
}

// TestFormatStatusReady: the READY column, from the ready counts in the
// status reply's sizes, beside the WORKERS of an elastic pool and the
// reasons; "-" for a watcher without a row and for one stopped.
func TestFormatStatusReady(t *testing.T) {
	t.Parallel()
	r := decode(t, `{"status":"ok","statuses":{"web":"active","api":"flapping","old":"active","idle":"stopped"},
		"reasons":{"api":"exited with status 1, 5 times in 10s"},
		"sizes":{"web":{"current":4,"ready":4,"min":2,"max":16,"elastic":true},"api":{"current":3,"ready":1,"elastic":false},
			"idle":{"current":2,"ready":0,"elastic":false,"running":0}}}`)
	var b bytes.Buffer
	if err := formatReply(&b, "status", r); err != nil {
		t.Fatal(err)
	}
	want := lines(
		"WATCHER  STATUS    READY  WORKERS    REASON",
		"api      flapping  1/3    3          exited with status 1, 5 times in 10s",
		"idle     stopped   -      0",
		"old      active    -      -",
		"web      active    4/4    4 (2..16)")
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output mismatch (-want +got):\n%s\ngot:\n%s", diff, b.String())
	}
}
