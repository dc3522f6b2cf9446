package configs

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkCredentialPerStart is what a start of a worker costs to look
// its user up again (Credential and LoginEnv), on a machine with 2,000
// users and 500 groups: "cached" as poold does it (two stats, the files
// parsed once), "parse" as a parse of both files per start would.
func BenchmarkCredentialPerStart(b *testing.B) {
	var passwd, group strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&passwd, "user%d:x:%d:%d:User %d,,,:/home/user%d:/bin/bash\n", i, 10000+i, 10000+i, i, i)
	}
	for i := range 500 {
		fmt.Fprintf(&group, "group%d:x:%d:user%d,user%d,user1999\n", i, 20000+i, i, i+1)
	}
	p, g := accountFilesFor(b, passwd.String(), group.String())
	w := Watcher{Name: "web", UID: "user1999"}
	run := func(b *testing.B, fresh bool) {
		a := NewAccounts(p, g, "")
		b.Cleanup(UseAccounts(a))
		b.ReportAllocs()
		for b.Loop() {
			if fresh {
				UseAccounts(NewAccounts(p, g, ""))
			}
			if _, err := w.Credential(); err != nil {
				b.Fatal(err)
			}
			_ = w.LoginEnv()
		}
	}
	b.Run("cached", func(b *testing.B) { run(b, false) })
	b.Run("parse", func(b *testing.B) { run(b, true) })
}
