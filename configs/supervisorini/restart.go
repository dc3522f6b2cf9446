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
func (t *translator) restartPolicy(out *translate.Section, s *translate.INISection, exp func(string) string) {
	mode := "unexpected"
	if v, ok := s.Get("autorestart"); ok {
		mode = strings.ToLower(strings.TrimSpace(exp(v)))
	}
	codes := []int64{0}
	if v, ok := s.Get("exitcodes"); ok {
		var err error
		if codes, err = parseExitCodes(exp(v)); err != nil {
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
