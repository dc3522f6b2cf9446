package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecSizesRefused: a word, argument or environment entry longer
// than exec takes (MAX_ARG_STRLEN), or all of them past what any stack
// limit allows, passed the load, set and add, and every spawn then
// failed with a bare "argument list too long".
func TestExecSizesRefused(t *testing.T) {
	most := ArgStrMax()
	big := strings.Repeat("a", most+1)
	fits := strings.Repeat("a", most)
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	limit := fmt.Sprintf("over the kernel's limit of %d bytes", most)
	tests := []struct {
		name, body string
		want       []string
	}{
		{"cmd word", fmt.Sprintf("[watchers.big]\ncmd = \"/bin/echo %s\"\n", big),
			[]string{fmt.Sprintf(`watchers.big.cmd: word 2 ("aaaaaaaaaaaaaaaaaaaaaaaa"...) is %d bytes, %s for one argument; pass large data in a file`, most+1, limit)}},
		{"arg", fmt.Sprintf("[watchers.big]\ncmd = \"/bin/echo\"\nargs = [\"x\", \"%s\"]\n", big),
			[]string{fmt.Sprintf(`watchers.big.args[1]: "aaaaaaaaaaaaaaaaaaaaaaaa"... is %d bytes, %s for one argument`, most+1, limit)}},
		{"env", fmt.Sprintf("[watchers.big]\ncmd = \"/bin/echo\"\nenv = [\"DATA=%s\"]\n", big),
			[]string{fmt.Sprintf(`watchers.big.env[0]: DATA is %d bytes, %s for one environment entry`, most+6, limit)}},
		{"health_cmd", fmt.Sprintf("[watchers.big]\ncmd = \"/bin/echo\"\nhealth_check = \"exec\"\nhealth_cmd = \"/bin/true %s\"\n", big),
			[]string{"watchers.big.health_cmd: word 2"}},
		{"total", fmt.Sprintf("[watchers.big]\ncmd = \"/bin/echo\"\nargs = [%s]\n", strings.TrimSuffix(strings.Repeat(`"`+fits+`", `, ExecCeiling/most+1), ", ")),
			[]string{fmt.Sprintf("watchers.big.cmd: with args and env is %d bytes", ExecSize([]string{"/bin/echo"}, slicesRepeat(fits, ExecCeiling/most+1))),
				"over the 6291456 bytes the kernel takes in all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(write(strings.ReplaceAll(tt.name, " ", "_")+".toml", tt.body))
			for _, want := range tt.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Load = %v\nwant %q", trimErr(err), want)
				}
			}
		})
	}
	// At the limit, one string is fine.
	if _, err := Load(write("fits.toml", fmt.Sprintf("[watchers.ok]\ncmd = \"/bin/echo %s\"\nargs = [\"%s\"]\n", fits, fits))); err != nil {
		t.Errorf("strings of %d bytes: %v", most, trimErr(err))
	}
	// set and add check the same.
	w := DefaultWatcher("web")
	w.Cmd = "/bin/echo"
	if _, err := ApplyOptions(w, map[string]any{"args": []any{big}}, nil); err == nil || !strings.Contains(err.Error(), `configs: watcher "web": args[0]: "aaaa`) {
		t.Errorf("set args: %v", trimErr(err))
	}
	if _, err := WatcherFromOptions("x", "/bin/echo", map[string]any{"env": []any{"A=" + big}}, nil); err == nil || !strings.Contains(err.Error(), `configs: watcher "x": env[0]: A is`) {
		t.Errorf("add env: %v", trimErr(err))
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// trimErr keeps a failure's message short: the values are long.
func trimErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}
