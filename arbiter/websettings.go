package arbiter

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"slices"

	"github.com/poold/poold/configs"
)

// webChanges are the [web] settings a reload changed that Options.OnConfig
// applied at once (the console's and metrics listener's Reconfigure): the
// console token, read_only, the API tokens and a renewed certificate, so
// that an operator who rotated a token sees it taken. Secrets are named,
// never shown. A key in restart (kept until poold restarts) is left out.
func webChanges(old, next configs.Web, restart []string) []settingChange {
	var out []settingChange
	add := func(key string, changed bool, from, to string) {
		if changed && !slices.Contains(restart, key) {
			out = append(out, settingChange{Key: key, From: from, To: to})
		}
	}
	add("web.api_tokens", !slices.Equal(old.Tokens, next.Tokens), "", "")
	add("web.read_only", old.ReadOnly != next.ReadOnly, fmt.Sprint(old.ReadOnly), fmt.Sprint(next.ReadOnly))
	add("web.tls_cert", !sameCert(old.Cert, next.Cert), "", "")
	add("web.token", old.Token != next.Token, "", "")
	return out
}

// sameCert reports whether a and b hold the same leaf certificate.
func sameCert(a, b *tls.Certificate) bool {
	switch {
	case a == nil || b == nil || len(a.Certificate) == 0 || len(b.Certificate) == 0:
		return (a == nil) == (b == nil)
	}
	return bytes.Equal(a.Certificate[0], b.Certificate[0])
}
