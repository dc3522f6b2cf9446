package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// decode turns a sample reply into what poolctl sees off the wire.
func decode(t *testing.T, s string) reply {
	t.Helper()
	var r reply
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("bad sample %s: %v", s, err)
	}
	return r
}

func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }

func TestFormatReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
		reply   string
		want    string
	}{
		{"list watchers", "list", `{"status":"ok","watchers":["other","web"]}`,
			lines("other", "web")},
		{"list pids sorted", "list", `{"status":"ok","pids":[1203,987,1100]}`,
			lines("987", "1100", "1203")},
		{"list no pids", "list", `{"status":"ok","pids":[]}`, ""},
		{"status one (Circus quirk)", "status", `{"status":"active","id":"x"}`,
			lines("active")},
		{"status table", "status", `{"status":"ok","statuses":{"web":"active","db-worker":"stopped"}}`,
			lines(
				"WATCHER    STATUS",
				"db-worker  stopped",
				"web        active")},
		{"numwatchers", "numwatchers", `{"status":"ok","numwatchers":3}`, lines("3")},
		{"numprocesses", "numprocesses", `{"status":"ok","numprocesses":12}`, lines("12")},
		{"incr prints new target", "incr", `{"status":"ok","numprocesses":5}`, lines("5")},
		{"decr prints new target", "decr", `{"status":"ok","numprocesses":0}`, lines("0")},
		{"stop without waiting", "stop", `{"status":"ok"}`, lines("ok")},
		{"stop waiting info", "stop", `{"status":"ok","info":{"started":[],"stopped":[12,10],"kept":[]}}`,
			lines(
				"started:  -",
				"stopped:  10 12",
				"kept:     -")},
		{"restart waiting info", "restart", `{"status":"ok","info":{"started":[20,21],"stopped":[10],"kept":[11]}}`,
			lines(
				"started:  20 21",
				"stopped:  10",
				"kept:     11")},
		{"quit", "quit", `{"status":"ok"}`, lines("ok")},
		{"options", "options", `{"status":"ok","options":{"numprocesses":4,"cmd":"sleep","args":["3600"],"graceful_timeout":10,"backoff_min":0.1,"autostart":true,"umask":"","env":[]}}`,
			lines(
				`args              ["3600"]`,
				"autostart         true",
				"backoff_min       0.1",
				"cmd               sleep",
				"env               []",
				"graceful_timeout  10",
				"numprocesses      4",
				"umask             ")},
		{"get", "get", `{"status":"ok","options":{"numprocesses":2}}`, lines("numprocesses  2")},
		// stop_signal by name, as the config writes it (it printed 15).
		{"get stop_signal", "get", `{"status":"ok","options":{"stop_signal":15}}`, lines("stop_signal  TERM")},
		{"get a realtime stop_signal", "get", `{"status":"ok","options":{"stop_signal":40}}`, lines("stop_signal  40")},
		{"globaloptions", "globaloptions", `{"status":"ok","options":{"endpoint":"ipc:///run/poold/control.sock","pid":4242,"stats_interval":1}}`,
			lines(
				"endpoint        ipc:///run/poold/control.sock",
				"pid             4242",
				"stats_interval  1")},
		{"listsockets", "listsockets", `{"status":"ok","sockets":[
			{"fd":3,"name":"web","backlog":2048,"host":"127.0.0.1","port":8000,"queue":12,"queue_limit":2048},
			{"fd":4,"name":"v6","backlog":128,"host":"::1","port":8001},
			{"fd":5,"name":"admin","backlog":16,"path":"/run/app/admin.sock","queue":0,"queue_limit":16}]}`,
			lines(
				"FD  NAME   ADDRESS              BACKLOG  QUEUE",
				"3   web    127.0.0.1:8000       2048     12/2048",
				"4   v6     [::1]:8001           128      -",
				"5   admin  /run/app/admin.sock  16       0/16")},
		{"listsockets none", "listsockets", `{"status":"ok","sockets":[]}`, lines("FD  NAME  ADDRESS  BACKLOG  QUEUE")},
		{"stats one watcher", "stats", `{"status":"ok","name":"web","info":{
			"1302":{"pid":1302,"wid":2,"state":"running","cpu":12.5,"mem":0.4,"mem_info1":"14M","age":192.7,"restarts":1,"cmdline":"python3","proc_state":"running"},
			"1299":{"pid":1299,"wid":1,"state":"running","cpu":0,"mem":0.35,"mem_info1":"12M","age":7384,"restarts":0,"cmdline":"python3","proc_state":"sleeping"},
			"1400":{"pid":1400,"wid":3,"state":"ready","cpu":0,"mem":0.35,"mem_info1":"12M","age":60,"restarts":0,"cmdline":"python3","proc_state":"stopped"}}}`,
			lines(
				"PID   WID  STATE            CPU    MEM   RSS  AGE    RESTARTS  CMD",
				"1299  1    running          0.0%   0.3%  12M  2h03m  0         python3",
				"1302  2    running          12.5%  0.4%  14M  3m12s  1         python3",
				"1400  3    ready (stopped)  0.0%   0.3%  12M  1m00s  0         python3")},
		// A worker marked to be replaced (max_age) whose replacement
		// waits showed as plain "ready".
		{"stats, a worker being replaced", "stats", `{"status":"ok","name":"web","info":{
			"1400":{"pid":1400,"wid":3,"state":"ready","recycle":true,"cpu":0,"mem":0.35,"mem_info1":"12M","age":60,"restarts":0,"cmdline":"python3"}}}`,
			lines(
				"PID   WID  STATE                  CPU   MEM   RSS  AGE    RESTARTS  CMD",
				"1400  3    ready, being replaced  0.0%  0.3%  12M  1m00s  0         python3")},
		{"stats, a worker draining", "stats", `{"status":"ok","name":"web","info":{
			"7":{"pid":7,"wid":1,"state":"stopping","kill_in":25.96,"cpu":1,"mem":2,"rss":1536,"age":3,"restarts":0,"cmdline":"sleep"}}}`,
			lines(
				"PID  WID  STATE                      CPU   MEM   RSS   AGE  RESTARTS  CMD",
				"7    1    stopping (SIGKILL in 26s)  1.0%  2.0%  1.5K  3s   0         sleep")},
		{"stats every watcher", "stats", `{"status":"ok","infos":{
			"web":{"7":{"pid":7,"wid":1,"state":"stopping","cpu":1,"mem":2,"rss":1536,"age":3,"restarts":0,"cmdline":"sleep"}},
			"idle":{}}}`,
			lines(
				"WATCHER  PID  WID  STATE     CPU   MEM   RSS   AGE  RESTARTS  CMD",
				"idle     -    -    -         -     -     -     -    -         (no processes)",
				"web      7    1    stopping  1.0%  2.0%  1.5K  3s   0         sleep")},
		// stats --extended: open fds over the soft RLIMIT_NOFILE, a full
		// table marked (r57b oncall M1: a worker at 512/512 showed ready
		// and nothing else).
		{"stats --extended, fds", "stats", `{"status":"ok","name":"web","info":{
			"8":{"pid":8,"wid":1,"state":"ready","cpu":0,"mem":0.1,"mem_info1":"9M","age":5,"restarts":0,"cmdline":"gunicorn","fds":12,"fds_limit":1024,
				"children":[{"pid":9,"cpu":0,"mem":0.1,"mem_info1":"8M","age":4,"cmdline":"gunicorn","proc_state":"sleeping","fds":512,"fds_limit":512}]},
			"10":{"pid":10,"wid":2,"state":"ready","cpu":0,"mem":0.1,"mem_info1":"9M","age":5,"restarts":0,"cmdline":"app","fds":7,"fds_limit":-1}}}`,
			lines(
				"PID    WID  STATE     CPU   MEM   RSS  AGE  RESTARTS  FDS           CMD",
				"8      1    ready     0.0%  0.1%  9M   5s   0         12/1024       gunicorn",
				"  └ 9       sleeping  0.0%  0.1%  8M   4s             512/512 FULL  gunicorn",
				"10     2    ready     0.0%  0.1%  9M   5s   0         7/unlimited   app")},
		// r63 memstats: a worker under memory_max shows what its cgroup
		// is charged over the limit, and the peak, where the OOM killer
		// looks; a worker without memory_max, "-".
		{"stats with memory_max", "stats", `{"status":"ok","infos":{
			"gu":{"8":{"pid":8,"wid":1,"state":"ready","cpu":0,"mem":0.1,"mem_info1":"9M","age":5,"restarts":0,"cmdline":"gunicorn",
				"cgroup_memory":52428800,"cgroup_memory_peak":94371840,"memory_max":104857600,
				"children":[{"pid":9,"cpu":0,"mem":0.1,"mem_info1":"40M","age":4,"cmdline":"gunicorn","proc_state":"sleeping"}]}},
			"web":{"10":{"pid":10,"wid":1,"state":"ready","cpu":0,"mem":0.1,"mem_info1":"9M","age":5,"restarts":0,"cmdline":"app"}}}}`,
			lines(
				"WATCHER  PID    WID  STATE     CPU   MEM   RSS  CGROUP MEM                AGE  RESTARTS  CMD",
				"gu       8      1    ready     0.0%  0.1%  9M   50M/100M (50%), peak 90M  5s   0         gunicorn",
				"           └ 9       sleeping  0.0%  0.1%  40M                            4s             gunicorn",
				"web      10     1    ready     0.0%  0.1%  9M   -                         5s   0         app")},
		{"stats one process, missing fields", "stats", `{"status":"ok","name":"web","process":7,"info":{"pid":7,"wid":3,"age":90061}}`,
			lines(
				"PID  WID  STATE  CPU  MEM  RSS  AGE    RESTARTS  CMD",
				"7    3    -      -    -    -    1d01h  -         -")},
		{"command without a formatter", "add", `{"status":"ok"}`, lines("ok")},
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

func TestFormatDstats(t *testing.T) {
	t.Parallel()
	r := decode(t, `{"status":"ok","info":{"pid":100,"name":"poold","cpu":0.25,"mem":1,"mem_info1":"20M","age":65,"children":[{},{}]}}`)
	var b bytes.Buffer
	if err := formatReply(&b, "dstats", r); err != nil {
		t.Fatal(err)
	}
	want := lines(
		"age        1m05s",
		"children   2",
		"cpu        0.2%",
		"mem        1.0%",
		"mem_info1  20M",
		"name       poold",
		"pid        100")
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestHumanAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{0.4, "0s"}, {59.9, "59s"}, {60.0, "1m00s"}, {192.0, "3m12s"}, {3599.0, "59m59s"},
		{3600.0, "1h00m"}, {7384.0, "2h03m"}, {86400.0, "1d00h"}, {90061.0, "1d01h"},
		{nil, "-"}, {"x", "-"}, {-1.0, "-"},
	}
	for _, tc := range tests {
		if got := humanAge(tc.in); got != tc.want {
			t.Errorf("humanAge(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0B"}, {512, "512B"}, {1024, "1K"}, {1536, "1.5K"}, {14 << 20, "14M"}, {1.5 * (1 << 30), "1.5G"}, {300 << 20, "300M"},
	}
	for _, tc := range tests {
		if got := humanBytes(tc.in); got != tc.want {
			t.Errorf("humanBytes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{nil, "-"}, {"s", "s"}, {3.0, "3"}, {2.5, "2.5"}, {true, "true"},
		{[]any{"a", 1.0}, `["a",1]`}, {map[string]any{"nofile": 4096.0}, `{"nofile":4096}`},
		{1.7e9, "1700000000"},
		// A hook or env value is shown as written, not HTML-escaped
		// (">&2", not "\u003e\u00262").
		{map[string]any{"before_start": "sh -c 'echo x >&2 <in'"}, `{"before_start":"sh -c 'echo x >&2 <in'"}`},
		{[]any{"a&b"}, `["a&b"]`},
	}
	for _, tc := range tests {
		if got := render(tc.in); got != tc.want {
			t.Errorf("render(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEventLine(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 1, 15, 4, 5, 123e6, time.Local)
	at := float64(ts.UnixNano()) / 1e9
	payload := func(m map[string]any) []byte {
		m["time"] = at
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name    string
		topic   string
		payload []byte
		want    string
	}{
		{"spawn", "watcher.web.spawn", payload(map[string]any{"process_pid": 1234, "process_id": 3, "seq": 9}),
			"15:04:05.123 watcher.web.spawn pid=1234 wid=3"},
		{"reap", "watcher.web.reap", payload(map[string]any{"process_pid": 1234, "process_id": 3, "exit_code": -15}),
			"15:04:05.123 watcher.web.reap pid=1234 wid=3 exit=-15"},
		{"no fields", "arbiter.reload", payload(map[string]any{}), "15:04:05.123 arbiter.reload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventLine(tc.topic, tc.payload); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	if got := eventLine("x.y", []byte("not json")); !strings.HasSuffix(got, " x.y not json") {
		t.Errorf("non-JSON payload: %q", got)
	}
}

func TestWriteEventJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := writeEventJSON(&b, "watcher.web.spawn", []byte(`{"process_pid":1}`)); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), `{"topic":"watcher.web.spawn","event":{"process_pid":1}}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRenderTop(t *testing.T) {
	t.Parallel()
	statuses := decode(t, `{"web":"active","idle":"stopped"}`)
	infos := decode(t, `{"web":{"7":{"pid":7,"wid":1,"state":"running","cpu":1.5,"mem":0.5,"mem_info1":"3M","age":75,"restarts":0,"cmdline":"sleep"},
		"8":{"pid":8,"wid":2,"state":"running","cpu":0.5,"mem":0.5,"mem_info1":"3M","age":5,"restarts":2,"cmdline":"sleep"}},"idle":{}}`)
	var b bytes.Buffer
	renderTop(&b, time.Date(2024, 1, 1, 9, 8, 7, 0, time.Local), statuses, infos, nil, false)
	want := lines(
		"poold top  09:08:07  2 watchers, 2 processes",
		"",
		"idle  stopped  0 processes  cpu 0.0%  mem 0.0%",
		"",
		"web  active  2 processes  cpu 2.0%  mem 1.0%",
		"PID  WID  STATE    CPU   MEM   RSS  AGE    RESTARTS  CMD",
		"7    1    running  1.5%  0.5%  3M   1m15s  0         sleep",
		"8    2    running  0.5%  0.5%  3M   5s     2         sleep")
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestArity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		form     string
		min, max int
		required []string
	}{
		{"", 0, 0, nil},
		{"[NAME]", 0, 1, nil},
		{"NAME", 1, 1, []string{"NAME"}},
		{"NAME [NB]", 1, 2, []string{"NAME"}},
		{"NAME [PID] SIGNAL", 2, 3, []string{"NAME", "SIGNAL"}},
		{"[NAME [PID]]", 0, 2, nil},
		{"NAME KEY...", 2, -1, []string{"NAME", "KEY"}},
		{"NAME CMD [ARG...]", 2, -1, []string{"NAME", "CMD"}},
	}
	for _, tc := range tests {
		min, max, req := arity(tc.form)
		if min != tc.min || max != tc.max || !cmp.Equal(req, tc.required) {
			t.Errorf("arity(%q) = %d, %d, %v; want %d, %d, %v", tc.form, min, max, req, tc.min, tc.max, tc.required)
		}
	}
}

func TestParseValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want any
	}{
		{"8", 8.0}, {"2.5", 2.5}, {"true", true}, {`["a","b"]`, []any{"a", "b"}},
		{"10s", "10s"}, {"022", "022"}, {"TERM", "TERM"}, {"", ""},
	}
	for _, tc := range tests {
		if got := parseValue(tc.in); !cmp.Equal(got, tc.want) {
			t.Errorf("parseValue(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"5", 5 * time.Second, false}, {"2.5", 2500 * time.Millisecond, false}, {"1m30s", 90 * time.Second, false},
		{"0", 0, true}, {"-1s", 0, true}, {"soon", 0, true}, {"NaN", 0, true},
		// Too large for a Duration: refused, not wrapped to a negative one.
		{"9223372036", 9223372036 * time.Second, false}, {"10000000000", 0, true}, {"1e300", 0, true}, {"+Inf", 0, true},
		{"10000000000h", 0, true},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
	for d, want := range map[time.Duration]string{5 * time.Second: "5s", 2 * time.Minute: "2m", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s", time.Hour: "1h"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// writeCounter counts the writes it gets: each is a write(2) on a
// terminal or a pipe.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

// A table of thousands of rows goes out in a few large writes, not a
// write per cell: unbuffered, `stats` of 10,000 workers made about
// 200,000 write calls and spent more time in them than in anything else.
func TestPrintWritesALongTableInFewWrites(t *testing.T) {
	t.Parallel()
	procs := map[string]any{}
	for pid := 1000; pid < 3000; pid++ {
		procs[strconv.Itoa(pid)] = map[string]any{"pid": float64(pid), "wid": float64(pid - 999),
			"state": "ready", "cpu": 0.0, "mem": 0.1, "rss": 1e6, "age": 12.0, "restarts": 0.0, "cmdline": "/srv/app --port 8000"}
	}
	out := &writeCounter{}
	a := &app{stdout: out}
	if err := a.print("stats", "web", nil, reply{"status": "ok", "name": "web", "info": procs}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if n := strings.Count(text, "\n"); n != 2001 {
		t.Fatalf("%d lines, want a heading and 2,000 rows:\n%.500s", n, text)
	}
	// 2,001 lines of about 70 bytes: a few buffers' worth.
	if max := len(text)/4096 + 2; out.writes > max {
		t.Fatalf("%d writes for %d bytes, want at most %d", out.writes, len(text), max)
	}
}

// decodeHead reads what decodeReply reads of status, reason and errno,
// keys matched exactly, and refuses what is not a JSON object.
func TestDecodeHeadAgreesWithDecodeReply(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`{"status":"ok","info":{"1":{"pid":1}},"time":1.5}`,
		`{"status":"error","reason":"program nope not found","errno":3}`,
		`{"status":"active","id":"x"}`,
		`{"Status":"error","REASON":"not ours","errno":null}`,
		`{}`,
	} {
		head, err := decodeHead([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		whole, _ := decodeReply([]byte(raw))
		for _, k := range []string{"status", "reason", "errno"} {
			if !cmp.Equal(head[k], whole[k]) {
				t.Errorf("%s: %s %#v, the whole reply says %#v", raw, k, head[k], whole[k])
			}
		}
	}
	for _, raw := range []string{`[1,2]`, `"ok"`, `{"status":`} {
		if _, err := decodeHead([]byte(raw)); err == nil {
			t.Errorf("%s: no error", raw)
		}
	}
}
