package configs

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Surge is max_surge: how many workers a replacement may run beyond
// numprocesses, as a number of workers or as a share of numprocesses
// ("25%"). The default, 100%, is the shape of Circus's and gunicorn's
// reload: every new worker starts, then the old ones stop together.
type Surge struct {
	Count   int // workers (>= 1), or 0 when Percent is set
	Percent int // 1..100: this share of numprocesses, rounded up
}

// SurgeOf is a surge of n workers.
func SurgeOf(n int) Surge { return Surge{Count: n} }

// Of is the surge for a pool of numprocesses workers: at least 1.
func (s Surge) Of(numprocesses int) int {
	if s.Percent > 0 {
		return max(1, (numprocesses*s.Percent+99)/100)
	}
	return max(s.Count, 1)
}

// String is the surge as written in a config: "3" or "100%".
func (s Surge) String() string {
	if s.Percent > 0 {
		return strconv.Itoa(s.Percent) + "%"
	}
	return strconv.Itoa(s.Count)
}

// wire is the surge in the control protocol's options: a number of
// workers, or the share as a string.
func (s Surge) wire() any {
	if s.Percent > 0 {
		return s.String()
	}
	return s.Count
}

// MarshalJSON writes the surge as the wire does. A count stays a number,
// as max_surge was before shares: an upgrade's state (arbiter/upgrade)
// carries the config as JSON from one poold build to the next.
func (s Surge) MarshalJSON() ([]byte, error) { return json.Marshal(s.wire()) }

// UnmarshalJSON reads a number of workers or a share "N%".
func (s *Surge) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*s = Surge{Count: n}
		return nil
	}
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return fmt.Errorf("max_surge: want a number or a share \"N%%\", got %s", b)
	}
	pct, ok := surgeShare(text)
	if !ok {
		return fmt.Errorf("max_surge: want a share between \"1%%\" and \"100%%\", got %q", text)
	}
	*s = Surge{Percent: pct}
	return nil
}

// surgeShare reads a share "N%" with N in 1..100.
func surgeShare(text string) (int, bool) {
	digits, ok := strings.CutSuffix(text, "%")
	pct, err := strconv.Atoi(digits)
	return pct, ok && err == nil && pct >= 1 && pct <= 100
}

// surgeField decodes max_surge: an integer >= 1, or a string "N%" with N
// in 1..100 (an environment variable holds either).
func surgeField(key string, p func(*Watcher) *Surge) field[Watcher] {
	const want = "must be a number of workers >= 1 or a share of numprocesses such as \"25%%\""
	return field[Watcher]{key: key,
		decode: func(d *decoder, k string, raw any, dst *Watcher) {
			text, isText := raw.(string)
			if ev, ok := raw.(envValue); ok {
				text, isText = ev.text, true
			}
			text = strings.TrimSpace(text)
			var n int64
			switch {
			case isText && strings.HasSuffix(text, "%"):
				pct, ok := surgeShare(text)
				if !ok {
					d.bad(k, raw, "a share of numprocesses must be between \"1%%\" and \"100%%\", got %s", describe(raw))
					return
				}
				*p(dst) = Surge{Percent: pct}
				return
			case isText:
				i, err := strconv.ParseInt(text, 10, 64)
				if err != nil {
					d.bad(k, raw, want+", got %s", describe(raw))
					return
				}
				n = i
			default:
				i, ok := asInt(raw)
				if !ok {
					d.bad(k, raw, want+", got %s", describe(raw))
					return
				}
				n = i
			}
			if n < 1 || n > math.MaxInt32 {
				d.bad(k, raw, want+", got %d", n)
				return
			}
			*p(dst) = Surge{Count: int(n)}
		},
		wire: func(src *Watcher) any { return p(src).wire() },
	}
}
