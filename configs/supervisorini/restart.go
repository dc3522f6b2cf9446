package supervisorini

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// restartPolicy maps autorestart (default unexpected) and exitcodes
// (default 0): true is respawn, false is no respawn, unexpected is
// respawn except after an exit with an expected status, which
// no_respawn_exit_codes lists (a worker that ends before startsecs is a
// failed start whatever its status, under both).
func (t *translator) restartPolicy(out *translate.Section, s *translate.INISection, exp func(key, v string) string) {
	mode := "unexpected"
	if v, ok := s.Get("autorestart"); ok {
		mode = strings.ToLower(strings.TrimSpace(exp("autorestart", v)))
	}
	codes := []int64{0}
	if v, ok := s.Get("exitcodes"); ok {
		var err error
		if codes, err = parseExitCodes(exp("exitcodes", v)); err != nil {
			t.refuse(s, "exitcodes", err.Error())
			return
		}
	}
	switch mode {
	case "unexpected":
		out.Set("respawn", true)
		out.Set("no_respawn_exit_codes", codes)
		t.info(out, s, "autorestart", fmt.Sprintf("unexpected (supervisord's default): a worker that exits with status %s (exitcodes) once started is not replaced (no_respawn_exit_codes); any other end is", joinCodes(codes)))
	case "true", "false":
		out.Set("respawn", mode == "true")
		if _, ok := s.Get("exitcodes"); ok {
			t.info(out, s, "exitcodes", "only autorestart = unexpected reads exitcodes, as in supervisord")
		}
	default:
		t.refuse(s, "autorestart", fmt.Sprintf("%q: want true, false or unexpected, as supervisord does", mode))
	}
}

// parseExitCodes reads exitcodes: statuses 0..255 separated by commas.
func parseExitCodes(v string) ([]int64, error) {
	var codes []int64
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < 0 || n > 255 {
			return nil, fmt.Errorf("%q is not an exit status (0 to 255); write statuses separated by commas, e.g. exitcodes=0,2", strings.TrimSpace(f))
		}
		codes = append(codes, n)
	}
	return codes, nil
}

func joinCodes(codes []int64) string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = strconv.FormatInt(c, 10)
	}
	return strings.Join(s, ", ")
}

// startsecs maps supervisord's startsecs S: a worker is ready once it has
// lived S (readiness "delay"), and only a death before that is a failed
// start that startretries counts (backoff_reset and flapping_window = S;
// a crash of a worker that ran longer is restarted at once, as
// supervisord restarts a RUNNING program). S = 0: ready once started,
// and every exit is one of a RUNNING program, which supervisord restarts
// on its next tick (about a second) however often it comes:
// backoff_reset and backoff_max of 1 s restart a worker that lived a
// second at once and space quicker exits by at most a second, instead of
// poold's backoff growing to 30 s for anything that lives under 10 s.
func (t *translator) startsecs(out *translate.Section, s *translate.INISection, v string) {
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || n < 0 {
		t.refuse(s, "startsecs", fmt.Sprintf("%q: want a number of seconds >= 0, as supervisord does", strings.TrimSpace(v)))
		return
	}
	secs := strconv.FormatFloat(n, 'f', -1, 64) + "s"
	out.Set("readiness", "delay")
	out.Set("ready_delay", secs)
	if n == 0 && neverRespawned(out) {
		t.info(out, s, "startsecs", "0: ready once started (readiness \"delay\", ready_delay 0); autorestart = false, so it is not restarted")
		return
	}
	if n == 0 {
		out.Set("backoff_reset", "1s")
		out.Set("backoff_max", "1s")
		t.info(out, s, "startsecs", "0: ready once started (readiness \"delay\", ready_delay 0); supervisord restarts such a program about a second after each exit, so backoff_reset = 1s (a worker that lived a second is replaced at once) and backoff_max = 1s (quicker exits wait at most a second)")
		return
	}
	out.Set("backoff_reset", secs)
	out.Set("flapping_window", secs)
	t.info(out, s, "startsecs", "mapped to readiness \"delay\": a worker alive that long is ready; only one that dies sooner failed its start (backoff_reset and flapping_window)")
}

// startDefaults applies supervisord's startsecs = 1 and startretries = 3
// to a program that sets neither: without them poold's own 10 s would
// take a program that crashes after a few seconds, which supervisord saw
// RUNNING and restarts forever, for a failed start, and give up on it.
func (t *translator) startDefaults(out *translate.Section, s *translate.INISection) {
	if _, ok := s.Get("startsecs"); !ok {
		out.Comment("startsecs: supervisord's default of 1 s")
		t.startsecs(out, s, "1")
	}
	if startsecsZero(s) && neverRespawned(out) {
		return // no restarts to count or give up on
	}
	if startsecsZero(s) {
		// RUNNING once started: supervisord never counts a failed
		// start, so startretries never gives up.
		out.Set("flapping_attempts", int64(0))
		t.info(out, s, "startsecs", "0: no start fails, so the program is restarted for ever (flapping_attempts = 0; startretries has no effect)")
		return
	}
	if _, ok := s.Get("startretries"); !ok {
		out.Comment("startretries: supervisord's default of 3: the first start and 3 retries, then the slot gives up (FATAL)")
		out.Set("flapping_attempts", int64(4))
		out.Set("flapping_max_retry", int64(0))
	}
}

// startsecsZero reports whether the program sets startsecs = 0.
func startsecsZero(s *translate.INISection) bool {
	v, ok := s.Get("startsecs")
	if !ok {
		return false
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return err == nil && n == 0
}

// replaceOrder keeps supervisord's order when a program changes: its
// update (and reload) stops the program, then starts it, so a celery beat
// or another must-be-single program never runs twice. poold replaces a
// watcher's workers new before old, except a singleton's, which it stops
// first: a program of one process becomes one. For several processes
// poold has no stop-first replacement, and the note says so.
func (t *translator) replaceOrder(out *translate.Section, s *translate.INISection, numprocs string) {
	n, err := strconv.Atoi(strings.TrimSpace(numprocs))
	switch {
	case err != nil || n < 1:
		return
	case n == 1:
		out.Set("singleton", true)
		t.info(out, s, "", "singleton = true: supervisord stops a changed program, then starts it, and so does poold with a singleton "+
			"(a config reload, reload, set): it never runs twice, with a short gap instead; set singleton = false for a rolling "+
			"replacement with no gap (the new worker starts and is ready before the old one stops), and to use incr")
	default:
		t.info(out, s, "", fmt.Sprintf("supervisord stops a changed program, then starts it; poold replaces these %d workers new before old "+
			"(max_surge, all at once by default), so old and new run side by side until the new ones are ready (startsecs) and "+
			"the old ones have stopped (stopwaitsecs). Where they must never overlap (an exclusive queue), poolctl stop NAME "+
			"before the change and start NAME after it", n))
	}
}

// neverRespawned reports whether restartPolicy made out respawn = false
// (autorestart = false): restart settings and notes do not apply to it.
func neverRespawned(out *translate.Section) bool {
	v, ok := out.Get("respawn")
	return ok && v == false
}
