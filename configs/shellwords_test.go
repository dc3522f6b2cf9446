package configs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"true", []string{"true"}},
		{"  curl  -fsS\thttp://x/  ", []string{"curl", "-fsS", "http://x/"}},
		{`sh -c 'echo "$A" \ b'`, []string{"sh", "-c", `echo "$A" \ b`}},
		{`a "b c" "d\"e" "f\g" "\$h"`, []string{"a", "b c", `d"e`, `f\g`, "$h"}},
		{`a\ b c\'d`, []string{"a b", "c'd"}},
		{`'' ""`, []string{"", ""}},
		{"a\\\nb", []string{"ab"}},
		{`x"y"'z'`, []string{"xyz"}},
	} {
		got, err := SplitCommand(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, d)
		}
	}
	for _, bad := range []string{"", "  ", `a 'b`, `a "b`, `a\`} {
		if got, err := SplitCommand(bad); err == nil {
			t.Errorf("%q: no error, got %q", bad, got)
		}
	}
}
