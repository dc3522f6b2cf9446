package zmqguard

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// names lists each entry as peer/index, in arrival order per peer.
func names(s *pendingSet, ids map[*pendingConn]string) map[string][]string {
	out := map[string][]string{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, q := range s.byPeer {
		for _, e := range q {
			out[p] = append(out[p], ids[e])
		}
	}
	return out
}

// The room-making policy, step by step: max 4 in all, 3 per peer.
func TestPendingSetPolicy(t *testing.T) {
	type step struct {
		peer   string
		talk   []string // entries that have sent a byte before this step
		remove string   // instead of adding: the named entry completes
		victim string   // entry displaced by this add ("" = none)
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  map[string][]string
	}{
		{"under the bounds nothing is displaced",
			[]step{{peer: "a"}, {peer: "b"}, {peer: "a"}},
			map[string][]string{"a": {"a0", "a2"}, "b": {"b1"}}},
		{"a peer at its bound loses its own oldest",
			[]step{{peer: "a"}, {peer: "a"}, {peer: "a"}, {peer: "a", victim: "a0"}},
			map[string][]string{"a": {"a1", "a2", "a3"}}},
		{"a peer that talked is kept; the oldest silent one goes",
			[]step{{peer: "a"}, {peer: "a"}, {peer: "a"}, {peer: "a", talk: []string{"a0"}, victim: "a1"}},
			map[string][]string{"a": {"a0", "a2", "a3"}}},
		{"when every one talked, the oldest goes",
			[]step{{peer: "a"}, {peer: "a"}, {peer: "a"}, {peer: "a", talk: []string{"a0", "a1", "a2"}, victim: "a0"}},
			map[string][]string{"a": {"a1", "a2", "a3"}}},
		{"when the guard is full, the peer holding most gives up one",
			[]step{{peer: "a"}, {peer: "b"}, {peer: "a"}, {peer: "a"}, {peer: "c", victim: "a0"}, {peer: "b", victim: "a2"}},
			map[string][]string{"a": {"a3"}, "b": {"b1", "b5"}, "c": {"c4"}}},
		{"of peers holding as many, the one waiting longest gives up one",
			[]step{{peer: "b"}, {peer: "a"}, {peer: "a"}, {peer: "b"}, {peer: "c", victim: "b0"}},
			map[string][]string{"a": {"a1", "a2"}, "b": {"b3"}, "c": {"c4"}}},
		{"a completed handshake frees its slot",
			[]step{{peer: "a"}, {peer: "a"}, {peer: "a"}, {remove: "a1"}, {peer: "a"}},
			map[string][]string{"a": {"a0", "a2", "a4"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newPendingSet(4, 3)
			ids := map[*pendingConn]string{}
			byName := map[string]*pendingConn{}
			for i, st := range tc.steps {
				for _, n := range st.talk {
					byName[n].talked.Store(true)
				}
				if st.remove != "" {
					if !s.remove(byName[st.remove]) {
						t.Fatalf("step %d: remove(%s) = false, want true", i, st.remove)
					}
					continue
				}
				e, victim := s.add(nil, st.peer)
				name := st.peer + strconv.Itoa(i)
				ids[e], byName[name] = name, e
				if got := ids[victim]; got != st.victim {
					t.Fatalf("step %d: add(%s) displaced %q, want %q", i, st.peer, got, st.victim)
				}
				if victim != nil && s.remove(victim) {
					t.Fatalf("step %d: remove of displaced %s = true, want false", i, st.victim)
				}
			}
			got := names(s, ids)
			for p := range got {
				slices.Sort(got[p])
			}
			if !mapsEqual(got, tc.want) {
				t.Errorf("pending %v, want %v", got, tc.want)
			}
			n, by := s.counts()
			total := 0
			for p, q := range tc.want {
				total += len(q)
				if by[p] != len(q) {
					t.Errorf("counts()[%s] = %d, want %d", p, by[p], len(q))
				}
			}
			if n != total || len(by) != len(tc.want) {
				t.Errorf("counts() = %d, %v; want %d over %d peers", n, by, total, len(tc.want))
			}
		})
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// peerOf names ipc peers by uid and tcp peers by address.
func TestPeerOf(t *testing.T) {
	accept := func(t *testing.T, network, addr string, dial func(string) (net.Conn, error)) string {
		t.Helper()
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c, err := dial(l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		return peerOf(rc)
	}
	from := func(network, local string) func(string) (net.Conn, error) {
		return func(addr string) (net.Conn, error) {
			d := net.Dialer{}
			if local != "" {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
			}
			return d.Dial(network, addr)
		}
	}
	sock := filepath.Join(t.TempDir(), "s")
	if got, want := accept(t, "unix", sock, from("unix", "")), "uid:"+strconv.Itoa(os.Geteuid()); got != want {
		t.Errorf("ipc peer %q, want %q", got, want)
	}
	if got := accept(t, "tcp4", "127.0.0.1:0", from("tcp4", "127.0.0.2")); got != "ip:127.0.0.2" {
		t.Errorf("tcp peer from 127.0.0.2: %q", got)
	}
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		if got := accept(t, "tcp6", "[::1]:0", from("tcp6", "")); got != "ip:::/64" {
			t.Errorf("tcp peer from ::1: %q, want its /64", got)
		}
	}
}
