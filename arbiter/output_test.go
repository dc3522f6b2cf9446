package arbiter

import (
	"testing"
)

// A worker's line in the text log cannot move the cursor, clear the
// screen, or start a line of its own that looks like poold's.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "GET / 200 0.3ms", "GET / 200 0.3ms"},
		{"tab and UTF-8 kept", "naïve\tcafé ✓ 日本", "naïve\tcafé ✓ 日本"},
		{"carriage return", "\rFAKE [ERROR] poold: forged", `\rFAKE [ERROR] poold: forged`},
		{"clear screen", "\x1b[2J", `\x1b[2J`},
		{"bell, NUL, DEL", "a\x07b\x00c\x7f", `a\ab\x00c\x7f`},
		{"C1 CSI", "x\u009b2Jy", `x\u009b2Jy`},
		{"invalid UTF-8", "bad\xff\xfeend", `bad\xff\xfeend`},
		{"truncated UTF-8", "caf\xc3", `caf\xc3`},
		{"U+FFFD itself kept", "\uFFFD", "\uFFFD"},
		{"backslashes kept", `C:\x1b\path`, `C:\x1b\path`},
		{"NEL is C1", "a\u0085b", `a\u0085b`},
		{"first printable after C1", "\u00a0ok", "\u00a0ok"},
		// poolctl logs escaped it and the README said both escape
		// alike; U+202E reversed how the rest of the line showed.
		{"right-to-left override", "ok \u202e bidi", `ok \u202e bidi`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable([]byte(tc.in)); got != tc.want {
				t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func BenchmarkPrintable(b *testing.B) {
	line := []byte("127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 1024 \"-\" \"curl/8.0\"")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = printable(line)
	}
}

// BenchmarkPrintableBaseline is the copy logging the line makes anyway.
func BenchmarkPrintableBaseline(b *testing.B) {
	line := []byte("127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 1024 \"-\" \"curl/8.0\"")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = string(line)
	}
}
