package supervisorini

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// autorestart and exitcodes, read together as supervisord reads them.
func TestAutorestartAndExitcodes(t *testing.T) {
	for _, tc := range []struct {
		name, opts string
		respawn    bool
		codes      []int
	}{
		{"default is unexpected", "", true, []int{0}},
		{"unexpected with exitcodes", "autorestart=unexpected\nexitcodes=0, 2,3\n", true, []int{0, 2, 3}},
		{"true ignores exitcodes", "autorestart=true\nexitcodes=2\n", true, nil},
		{"false", "autorestart=false\n", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg, _ := translateConf(t, "[program:a]\ncommand=/bin/true\n"+tc.opts)
			w := cfg.Watchers[0]
			if w.Respawn != tc.respawn || !slices.Equal(w.NoRespawnExitCodes, tc.codes) {
				t.Fatalf("respawn %v, no_respawn_exit_codes %v; want %v, %v", w.Respawn, w.NoRespawnExitCodes, tc.respawn, tc.codes)
			}
		})
	}
}

// What supervisord refuses to start with is an error naming file, line,
// section and key.
func TestAutorestartAndExitcodesRefused(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"autorestart=maybe\n", `:3: [program:a] autorestart: "maybe": want true, false or unexpected`},
		{"exitcodes=0,x\n", `:3: [program:a] exitcodes: "x" is not an exit status (0 to 255)`},
		{"exitcodes=256\n", `:3: [program:a] exitcodes: "256" is not an exit status`},
		{"startretries=x\n", `:3: [program:a] startretries: "x": want a whole number of retries`},
		{"startsecs=soon\n", `:3: [program:a] startsecs: "soon": want a number of seconds >= 0`},
	} {
		path := confFile(t, "[program:a]\ncommand=/bin/true\n"+tc.opts)
		if _, err := Translate(path, nil); err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q: got %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// startsecs = 0 makes supervisord take a program for RUNNING once
// started: it never counts a failed start, so startretries never gives
// up and it restarts the program for ever. The translation gave up after
// startretries + 1 (4 by default) quick exits (r48b review).
func TestStartsecsZeroNeverGivesUp(t *testing.T) {
	for _, opts := range []string{"startsecs=0\n", "startsecs=0\nstartretries=2\n", "startretries=2\nstartsecs=0\n"} {
		doc, cfg, _ := translateConf(t, "[program:a]\ncommand=/bin/true\n"+opts)
		if n := cfg.Watchers[0].FlappingAttempts; n != 0 {
			t.Errorf("%q: flapping_attempts %d, want 0 (back off, never give up)", opts, n)
		}
		// startretries maps to nothing then: no note that the slot gives
		// up, no flapping_max_retry (left from r48).
		var b strings.Builder
		doc.WriteTOML(&b)
		for _, stray := range []string{"flapping_max_retry", "gives up"} {
			if strings.Contains(b.String(), stray) {
				t.Errorf("%q: the TOML says %q:\n%s", opts, stray, b.String())
			}
		}
	}
}

// Defect (r53b review, finding 6): with startsecs = 0 supervisord
// restarts a program about a second after each exit, for ever; poold
// kept its own backoff_reset of 10 s, so a batch job that runs 2 s was
// backed off 3, 6, 13 then 30 s. Now a worker that lived a second is
// replaced at once and quicker exits wait at most a second; poold's
// defaults are left alone elsewhere.
func TestStartsecsZeroRestartsWithoutGrowingBackoff(t *testing.T) {
	_, cfg, _ := translateConf(t, "[program:batch]\ncommand=/bin/true\nstartsecs=0\nautorestart=true\n")
	w := cfg.Watchers[0]
	if w.BackoffReset != time.Second || w.BackoffMax != time.Second || w.ReadyDelay != 0 || w.FlappingAttempts != 0 {
		t.Errorf("backoff_reset %s, backoff_max %s, ready_delay %s, flapping_attempts %d; want 1s, 1s, 0s, 0",
			w.BackoffReset, w.BackoffMax, w.ReadyDelay, w.FlappingAttempts)
	}
	_, cfg, _ = translateConf(t, "[program:app]\ncommand=/bin/true\nstartsecs=5\n")
	w = cfg.Watchers[0]
	if w.BackoffReset != 5*time.Second || w.BackoffMax != configs.DefaultBackoffMax {
		t.Errorf("startsecs=5: backoff_reset %s, backoff_max %s; want 5s and poold's default", w.BackoffReset, w.BackoffMax)
	}
}

// supervisord takes startretries = -1 (FATAL after the first failed
// start) and stopwaitsecs = -1 (SIGKILL at once); poold refused both,
// the first "as supervisord does" (r53b review, finding 12).
func TestNegativeRetriesAndStopwaitAsSupervisord(t *testing.T) {
	_, cfg, _ := translateConf(t, "[program:a]\ncommand=/bin/true\nstartretries=-1\nstopwaitsecs=-1\n")
	w := cfg.Watchers[0]
	if w.FlappingAttempts != 1 || w.GracefulTimeout != 0 {
		t.Errorf("flapping_attempts %d, graceful_timeout %s; want 1 (no retry) and 0s", w.FlappingAttempts, w.GracefulTimeout)
	}
}

// TestNoRestartNoForEverNote: a migration with autorestart = false and
// startsecs = 0 became respawn = false, yet its note said it "is
// restarted for ever" and it got backoff settings for restarts it never
// has (r60 celery trial).
func TestNoRestartNoForEverNote(t *testing.T) {
	doc, cfg, _ := translateConf(t, "[program:migrate]\ncommand = /bin/true\nautorestart = false\nstartsecs = 0\n")
	if w := cfg.Watchers[0]; w.Respawn {
		t.Fatalf("respawn = true, want false")
	}
	for _, n := range doc.Notes {
		if strings.Contains(n.Msg, "restarted for ever") || strings.Contains(n.Msg, "restarts such a program") {
			t.Errorf("a note on a program never restarted speaks of restarts: %s", n.Msg)
		}
	}
}
