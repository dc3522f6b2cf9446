package supervisorini

import (
	"slices"
	"strings"
	"testing"
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
		{"startretries=-1\n", `:3: [program:a] startretries: "-1": want a number of retries >= 0`},
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
