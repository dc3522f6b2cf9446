package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/events/zmqpub"
	"github.com/poold/poold/web/remote"
)

// Two transports carry the same requests and replies: the ZeroMQ control
// endpoint (--endpoint, local) and poold's HTTPS API (--url, with a bearer
// token). Every command goes through these two interfaces, so a command
// works the same over either; a new stream (logs -f) needs only a
// subscribe-like opener for each (its API side is a GET /api/v1/NAME
// stream, see web.Options.Streams).

// caller sends one raw request and returns the raw reply
// (*ctlclient.Client, *remote.Client).
type caller interface {
	Call(ctx context.Context, raw []byte) ([]byte, error)
	Close() error
}

// eventStream delivers lifecycle events (*zmqpub.Subscriber,
// *remote.Stream).
type eventStream interface {
	RecvRaw(ctx context.Context) (topic string, payload []byte, err error)
	Close() error
}

// remote reports whether poolctl talks to poold's HTTPS API.
func (a *app) remote() bool { return len(a.urls) > 0 }

// filesFor gives the token and CA files for one URL: its hosts file
// line's, else --token-file and --ca-file.
func (a *app) filesFor(u string) (tok, ca string) {
	tok, ca = a.tokenFile, a.caFile
	if h, ok := a.hostFiles[u]; ok {
		tok, ca = or(h[0], tok), or(h[1], ca)
	}
	return tok, ca
}

// tokenNote names the token file sent to u, for a refusal (errno 7) of
// it: a wrong, revoked or read-only token is that file's to fix.
func (a *app) tokenNote(u string, errno int) string {
	tok, _ := a.filesFor(u)
	if !a.remote() || errno != wire.ErrnoForbidden || tok == "" {
		return ""
	}
	return " (the token sent is the one in " + tok + ")"
}

// remoteClient builds the API client for one URL.
func (a *app) remoteClient(u string) (*remote.Client, error) {
	tok, ca := a.filesFor(u)
	c, err := remote.New(remote.Options{URL: u, TokenFile: tok, CAFile: ca, Explain: explainNotHTTP})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}

// subscribe opens the event stream of the poold behind client, filtered
// by topic prefixes; since >= 0 replays kept events after it first (the
// API does that itself; over ZeroMQ the replayer does).
func (a *app) subscribe(ctx context.Context, client caller, prefixes []string, since int64) (eventStream, error) {
	if rc, ok := client.(*remote.Client); ok {
		st, err := rc.Events(ctx, prefixes, since)
		if err != nil {
			return nil, connError{fmt.Sprintf("Cannot open poold's event stream at %s (%v)", rc.URL(), err), err}
		}
		return st, nil
	}
	ep := a.pubsub
	if ep == "" {
		var err error
		if ep, err = a.askPubsub(ctx, client); err != nil {
			return nil, err
		}
	}
	sub, err := zmqpub.Dial(ctx, ep, prefixes...)
	if err != nil {
		return nil, subscribeError(ep, err)
	}
	return sub, nil
}

// initURLs sets a.urls from the flags and environment (cobra's
// completion skips the pre-run hook, so completers call it too).
func (a *app) initURLs() error {
	urls, files, err := urlsFrom(a.urlFlags, a.hostsFile)
	if err != nil {
		return err
	}
	a.urls, a.hostFiles = urls, files
	if len(urls) == 1 {
		a.endpoint = urls[0] // named in messages
	}
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// urlsFrom gathers --url flags, POOLCTL_URL (comma-separated) and
// --hosts-file: one host a line, "URL [TOKEN_FILE [CA_FILE]]" (the files
// default to --token-file and --ca-file; a relative one is relative to
// the hosts file, as kubeconfig's are, so that poolctl finds them from
// any directory), # comments. files maps a URL to its own token and CA
// files.
func urlsFrom(flags []string, hostsFile string) (urls []string, files map[string][2]string, err error) {
	urls = append([]string(nil), flags...)
	files = map[string][2]string{}
	if len(urls) == 0 && hostsFile == "" {
		for _, u := range strings.Split(os.Getenv("POOLCTL_URL"), ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
	}
	if hostsFile != "" {
		b, err := os.ReadFile(hostsFile)
		if err != nil {
			return nil, nil, usagef("--hosts-file: %v", err)
		}
		lineOf := map[string]int{} // URL -> the line that named it
		for i, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			f := strings.Fields(line)
			if (!strings.HasPrefix(f[0], "https://") && !strings.HasPrefix(f[0], "http://")) || len(f) > 3 {
				return nil, nil, usagef("--hosts-file %s line %d: %q: write https://host:port [TOKEN_FILE [CA_FILE]]", hostsFile, i+1, line)
			}
			u := strings.TrimRight(f[0], "/")
			urls = append(urls, u)
			var hf [2]string
			copy(hf[:], f[1:])
			for j, name := range hf {
				if name != "" && !filepath.IsAbs(name) {
					hf[j] = filepath.Join(filepath.Dir(hostsFile), name)
				}
			}
			if prev, ok := lineOf[u]; ok && files[u] != hf {
				// One would silently win: a stale copy of a line
				// would show a healthy host refused or unreachable.
				return nil, nil, usagef("--hosts-file %s line %d: %s is on line %d too, with other token or CA files; keep one line per host", hostsFile, i+1, u, prev)
			}
			lineOf[u] = i + 1
			files[u] = hf
		}
	}
	// A host named twice is one host (cobra's completion also parses
	// the flags twice).
	seen := map[string]bool{}
	out := urls[:0]
	for _, u := range urls {
		if k := strings.TrimRight(u, "/"); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, files, nil
}

// subscribeError explains a failed subscription to the event endpoint ep.
// An ipc endpoint refused by the file system is poold's user's alone (its
// event socket stays 0600 whatever the control rules let others run):
// pointing at another endpoint would not help.
func subscribeError(ep string, err error) error {
	if strings.HasPrefix(ep, "ipc://") && errors.Is(err, syscall.EACCES) {
		return connError{fmt.Sprintf("Cannot subscribe to poold's events at %s: permission denied: the event socket is open to poold's user only; run poolctl as that user, or read events over the HTTPS API (--url with a token of web.api_tokens)", ep), err}
	}
	return connError{fmt.Sprintf("Cannot subscribe to poold's events at %s (%v; set --pubsub-endpoint)", ep, err), err}
}
