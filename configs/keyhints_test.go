package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyHints: small gaps a newcomer met while making type mistakes
// (r64 newcomer F9). A host written with its port says to put the port
// in port; an address key in a socket gets "did you mean host and port"
// and no second "needs either port" line; a watcher key right under
// [watchers] (the name forgotten) is one problem, not a second
// "watchers.cmd.cmd: missing"; problems come in the order of the file's
// lines, not the order of the sorted names.
func TestKeyHints(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string // every line of the error, in order
	}{
		{"hostport.toml", "[sockets.s]\nhost = \"localhost:41891\"\n",
			[]string{`hostport.toml:2:1: sockets.s.host: "localhost:41891" holds a port too: put it in port, host = "localhost" and port = 41891`}},
		{"address.toml", "[sockets.s]\naddress = \"127.0.0.1:41891\"\n",
			[]string{`address.toml:2:1: sockets.s.address: unknown key; did you mean host and port? A socket's address is two keys: host = "127.0.0.1" and port = 8000 (or path = "/run/app.sock" for a unix socket)`}},
		{"noname.toml", "[watchers]\ncmd = \"/bin/true\"\n",
			[]string{`noname.toml:2:1: watchers.cmd: cmd is a key of one watcher section, but [watchers] holds only named sections: write the header with a name, [watchers.NAME] (e.g. [watchers.web]), above cmd`}},
		{"order.toml", "[watchers.b]\ncmd = \"/bin/true\"\nnumprocesses = \"two\"\n[watchers.a]\ncmd = \"/bin/true\"\nnumprocesses = \"two\"\n",
			[]string{`order.toml:3:1: watchers.b.numprocesses: must be an integer`, `order.toml:6:1: watchers.a.numprocesses: must be an integer`}},
	} {
		path := filepath.Join(t.TempDir(), c.name)
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil {
			t.Errorf("%s: loads; want %q", c.name, c.want)
			continue
		}
		got := strings.Split(err.Error(), "\n")
		ok := len(got) == len(c.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.Contains(got[i], c.want[i])
		}
		if !ok {
			t.Errorf("%s: got\n%v\nwant lines with %q", c.name, err, c.want)
		}
	}
}
