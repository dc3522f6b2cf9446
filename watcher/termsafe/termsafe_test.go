package termsafe

import "testing"

// One rule for what poold's text log, poolctl and the probes' reasons
// escape. poold's log let bidi controls through (U+202E reversed how
// the rest of its line, the watcher's name included, was shown), though
// poolctl logs escaped them and the README said both escape alike.
func TestLine(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "GET / 200 0.3ms", "GET / 200 0.3ms"},
		{"tab and UTF-8 kept", "naïve\tcafé ✓ 日本", "naïve\tcafé ✓ 日本"},
		{"carriage return", "\rFAKE [ERROR] poold: forged", `\rFAKE [ERROR] poold: forged`},
		{"colours", "\x1b[2J\x1b[31mRED\x1b[0m", `\x1b[2J\x1b[31mRED\x1b[0m`},
		{"bell, NUL, DEL", "a\x07b\x00c\x7f", `a\ab\x00c\x7f`},
		{"C1 CSI", "x\u009b2Jy", `x\u009b2Jy`},
		{"NEL is C1", "a\u0085b", `a\u0085b`},
		{"invalid UTF-8", "bad\xff\xfeend", `bad\xff\xfeend`},
		{"a lone C1 byte is not UTF-8", "csi\x9b", `csi\x9b`},
		{"truncated UTF-8", "caf\xc3", `caf\xc3`},
		{"U+FFFD itself kept", "\uFFFD", "\uFFFD"},
		{"backslashes kept", `C:\x1b\path`, `C:\x1b\path`},
		{"first printable after C1", "\u00a0ok", "\u00a0ok"},
		{"right-to-left override", "ok \u202e bidi: watcher=web", `ok \u202e bidi: watcher=web`},
		{"bidi isolates and marks", "\u2066a\u2069\u200e\u200f\u061c", `\u2066a\u2069\u200e\u200f\u061c`},
		{"zero width space, BOM", "a\u200bb\ufeff", `a\u200bb\ufeff`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"joiners kept", "👩\u200d💻 \u200c", "👩\u200d💻 \u200c"},
		{"", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Line(tc.in); got != tc.want {
				t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func BenchmarkLine(b *testing.B) {
	line := "127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 1024 \"-\" \"curl/8.0\""
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = Line(line)
	}
}
