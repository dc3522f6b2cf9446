package arbiter

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/poold/poold/arbiter/upgrade"
)

// What an upgrade hands over in State.Extra, a map of int64s by key:
// each key is read by the binaries that know it and ignored by the
// others, so the state's format stays as it is.

// peersPrefix prefixes a key of Upgrader.Peers in State.Extra.
const peersPrefix = "peers "

// cookieKeyPrefix prefixes the keys of Upgrader.CookieKey in
// State.Extra: one int64 for each 8 bytes, so that the state's format,
// and every binary that reads it, stays as it is (one that does not
// know them draws a key of its own: its consoles sign in again).
const cookieKeyPrefix = "cookie key "

// startOwedKey, set to 1 in State.Extra, is Upgrader.StartOwed: the
// state's format stays as it is. A state without it (an older image)
// counts as READY=1 sent, the usual case: a new image that waited for
// its watchers instead would leave systemd "reloading".
const startOwedKey = "sd_notify start owed"

// StartOwedHandedOver returns Upgrader.StartOwed as the old image said it
// in st (false: st is nil, or it said nothing).
func StartOwedHandedOver(st *upgrade.State) bool {
	return st != nil && st.Extra[startOwedKey] == 1
}

// CookieKeyHandedOver returns Upgrader.CookieKey from a state's Extra
// (nil: none, or st is nil).
func CookieKeyHandedOver(st *upgrade.State) []byte {
	if st == nil {
		return nil
	}
	var key []byte
	for i := 0; ; i++ {
		n, ok := st.Extra[cookieKeyPrefix+strconv.Itoa(i)]
		if !ok {
			return key
		}
		key = binary.BigEndian.AppendUint64(key, uint64(n))
	}
}

// handCookieKey puts key (whole int64s of it) into st.Extra.
func handCookieKey(st *upgrade.State, key []byte) {
	for i := 0; i+8 <= len(key); i += 8 {
		if st.Extra == nil {
			st.Extra = map[string]int64{}
		}
		st.Extra[cookieKeyPrefix+strconv.Itoa(i/8)] = int64(binary.BigEndian.Uint64(key[i:]))
	}
}

// PeersHandedOver returns the counts of Upgrader.Peers from a state's
// Extra, by listener key.
func PeersHandedOver(st *upgrade.State) map[string]int64 {
	out := map[string]int64{}
	for k, n := range st.Extra {
		if key, ok := strings.CutPrefix(k, peersPrefix); ok {
			out[key] = n
		}
	}
	return out
}

// handExtras puts into st.Extra what u says of poold's listeners'
// peers, its console's cookie key and its service manager.
func handExtras(st *upgrade.State, u *Upgrader) {
	set := func(key string, n int64) {
		if st.Extra == nil {
			st.Extra = map[string]int64{}
		}
		st.Extra[key] = n
	}
	if u.Peers != nil {
		for k, n := range u.Peers() {
			set(peersPrefix+k, n)
		}
	}
	if u.CookieKey != nil {
		handCookieKey(st, u.CookieKey())
	}
	if u.StartOwed != nil && u.StartOwed() {
		set(startOwedKey, 1)
	}
}
