package configs

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// nameRE is what a socket or watcher name may contain.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

const nameRule = "names may contain only letters, digits, '_', '.' and '-'"

var (
	logLevels     = []string{"trace", "debug", "info", "warn", "error"}
	logFormats    = []string{"text", "json"}
	socketFamiles = []string{"tcp", "tcp4", "tcp6", "unix"}
)

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// parseEndpoint checks a ZeroMQ endpoint: ipc://PATH or tcp://HOST:PORT.
func parseEndpoint(e string) (scheme, host string, err error) {
	scheme, rest, ok := strings.Cut(e, "://")
	if !ok {
		return "", "", fmt.Errorf(`must be "ipc://PATH" or "tcp://HOST:PORT", got %q`, e)
	}
	switch scheme {
	case "ipc":
		if rest == "" {
			return "", "", fmt.Errorf(`ipc endpoint needs a path, as in "ipc:///run/poold/control.sock", got %q`, e)
		}
		return scheme, "", nil
	case "tcp":
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			return "", "", fmt.Errorf(`tcp endpoint must be "tcp://HOST:PORT", got %q`, e)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("tcp endpoint port must be between 1 and 65535, got %q", e)
		}
		if h == "" {
			return "", "", fmt.Errorf(`tcp endpoint needs a host ("127.0.0.1", or "*" for every interface), got %q`, e)
		}
		return scheme, h, nil
	}
	return "", "", fmt.Errorf(`must use ipc:// or tcp://, got %q`, e)
}

func validateArbiter(ps *problems, a *Arbiter) {
	eps := []struct {
		key string
		val *string
	}{{"arbiter.endpoint", &a.Endpoint}, {"arbiter.pubsub_endpoint", &a.PubSubEndpoint}, {"arbiter.stats_endpoint", &a.StatsEndpoint}}
	seen := map[string]string{}
	for _, ep := range eps {
		scheme, host, err := parseEndpoint(*ep.val)
		if err != nil {
			ps.add(ep.key, "%v", err)
			continue
		}
		if other, dup := seen[*ep.val]; dup {
			ps.add(ep.key, "%s is already used by %s; each endpoint needs its own address", *ep.val, other)
		}
		seen[*ep.val] = ep.key
		if ep.key == "arbiter.endpoint" && scheme == "tcp" && !isLoopbackHost(host) && !a.AllowRemote {
			ps.add(ep.key, "%s is refused: it is not a loopback address and the control protocol has no authentication (anyone who can connect can run any command); use an ipc:// endpoint or a 127.0.0.1 address, or set arbiter.allow_remote = true if the network is trusted", *ep.val)
		}
	}
	a.LogLevel = strings.ToLower(a.LogLevel)
	if !slices.Contains(logLevels, a.LogLevel) {
		ps.add("arbiter.log_level", "must be one of %s, got %q", strings.Join(logLevels, ", "), a.LogLevel)
	}
	a.LogFormat = strings.ToLower(a.LogFormat)
	if !slices.Contains(logFormats, a.LogFormat) {
		ps.add("arbiter.log_format", "must be one of %s, got %q", strings.Join(logFormats, ", "), a.LogFormat)
	}
}

func validateWeb(ps *problems, w *Web) {
	host, port, err := net.SplitHostPort(w.Address)
	if err != nil {
		ps.add("web.address", `must be "HOST:PORT" such as "127.0.0.1:8080", got %q`, w.Address)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ps.add("web.address", "port must be a number between 0 and 65535, got %q", w.Address)
		return
	}
	if w.Enabled && w.Token == "" && !isLoopbackHost(host) {
		ps.add("web.token", "must be set because web.address %q is not a loopback address: the console can start and stop workers; set a token, or listen on 127.0.0.1", w.Address)
	}
}

// socketDraft is a decoded socket plus the keys its section set.
type socketDraft struct {
	Socket
	present map[string]bool
}

func validateSockets(ps *problems, drafts []socketDraft) {
	addrs := map[string]string{} // address -> socket name
	for i := range drafts {
		s, has := &drafts[i].Socket, drafts[i].present
		key := "sockets." + s.Name
		tcpish := has["port"] || has["host"]
		switch {
		case has["path"] && tcpish:
			ps.add(key, "has both path and host/port: a socket is either unix (path) or tcp (host and port); remove one")
			continue
		case !has["path"] && !has["port"]:
			ps.add(key, "needs either port (with host, default %s; port 0 lets the kernel choose) or path (a unix socket)", DefaultSocketHost)
			continue
		case has["path"] && s.Path == "":
			ps.add(key+".path", "must not be empty")
			continue
		}
		if s.Family == "" {
			s.Family = DefaultSocketFamily
			if has["path"] {
				s.Family = "unix"
			}
		}
		s.Family = strings.ToLower(s.Family)
		if !slices.Contains(socketFamiles, s.Family) {
			ps.add(key+".family", "must be one of %s, got %q", strings.Join(socketFamiles, ", "), s.Family)
			continue
		}
		ip := net.ParseIP(s.Host)
		switch {
		case s.Family == "unix" && !has["path"]:
			ps.add(key+".family", `is "unix" but the socket has host/port; set path instead`)
			continue
		case s.Family != "unix" && has["path"]:
			ps.add(key+".family", "is %q but the socket has a path; use family = \"unix\" or set host and port", s.Family)
			continue
		case s.Family != "unix" && s.Host == "":
			ps.add(key+".host", "must not be empty (use 0.0.0.0 or :: for every interface)")
			continue
		case s.Family == "tcp4" && ip != nil && ip.To4() == nil:
			ps.add(key+".family", "is tcp4 but host %s is an IPv6 address", s.Host)
			continue
		case s.Family == "tcp6" && ip != nil && ip.To4() != nil:
			ps.add(key+".family", "is tcp6 but host %s is an IPv4 address", s.Host)
			continue
		}
		var addr string
		if s.Family == "unix" {
			addr = "unix:" + filepath.Clean(s.Path)
		} else if s.Port != 0 {
			addr = net.JoinHostPort(strings.ToLower(s.Host), strconv.Itoa(s.Port))
		}
		if addr != "" {
			if other, dup := addrs[addr]; dup {
				ps.add(key, "has the same address (%s) as sockets.%s; give each socket its own address", strings.TrimPrefix(addr, "unix:"), other)
			} else {
				addrs[addr] = s.Name
			}
		}
	}
}

// validateWatcher checks what one field alone cannot: references,
// environment entries, users, directories and ranges between keys.
// prefix is "watchers.NAME" for a file, "" for run-time options.
func validateWatcher(ps *problems, prefix string, w *Watcher, sockets map[string]bool) {
	k := func(key string) string { return joinKey(prefix, key) }
	if strings.TrimSpace(w.Cmd) == "" && !ps.has(k("cmd")) {
		ps.add(k("cmd"), "missing: set the program to run, e.g. cmd = \"/usr/bin/gunicorn\"")
	}
	for i, e := range w.Env {
		name, _, ok := strings.Cut(e, "=")
		switch {
		case !ok:
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), `must be "KEY=VALUE", got %q`, e)
		case name == "":
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), `has an empty KEY in %q`, e)
		}
	}
	for i, name := range w.Sockets {
		lname := strings.ToLower(name)
		if !sockets[lname] {
			ps.add(fmt.Sprintf("%s[%d]", k("sockets"), i), "unknown socket %q; %s", name, socketHint(sockets))
		} else if slices.IndexFunc(w.Sockets[:i], func(s string) bool { return strings.EqualFold(s, name) }) >= 0 {
			ps.add(fmt.Sprintf("%s[%d]", k("sockets"), i), "socket %q is listed twice", name)
		}
	}
	checkVars := func(key, text string) {
		for _, x := range variables(text) {
			if name, ok := strings.CutPrefix(x, "sockets."); ok {
				if !sockets[strings.ToLower(name)] {
					ps.add(key, "refers to unknown socket %q through $(pool.%s); %s", name, x, socketHint(sockets))
				}
			} else if !knownVar(x) {
				ps.add(key, "unknown variable %q; known: %s, sockets.NAME, env.KEY", x, strings.Join(varNames, ", "))
			}
		}
	}
	checkVars(k("cmd"), w.Cmd)
	for i, a := range w.Args {
		checkVars(fmt.Sprintf("%s[%d]", k("args"), i), a)
	}
	for i, e := range w.Env {
		checkVars(fmt.Sprintf("%s[%d]", k("env"), i), e)
	}
	if w.WorkingDir != "" {
		fi, err := os.Stat(w.WorkingDir)
		switch {
		case err != nil:
			ps.add(k("working_dir"), "%s: %v", w.WorkingDir, pathErr(err))
		case !fi.IsDir():
			ps.add(k("working_dir"), "%s is not a directory", w.WorkingDir)
		}
	}
	if w.UID != "" {
		if _, err := lookupUser(w.UID); err != nil {
			ps.add(k("uid"), "%v", err)
		}
	}
	if w.GID != "" {
		if _, err := lookupGroup(w.GID); err != nil {
			ps.add(k("gid"), "%v", err)
		}
	}
	if w.BackoffMin > w.BackoffMax {
		ps.add(k("backoff_min"), "(%s) must not exceed backoff_max (%s)", w.BackoffMin, w.BackoffMax)
	}
	if w.Umask < -1 || w.Umask > 0o777 {
		ps.add(k("umask"), "must be -1 (inherit) or between 000 and 777 (octal), got %d", w.Umask)
	}
}

func socketHint(sockets map[string]bool) string {
	if len(sockets) == 0 {
		return "no sockets are defined; add a [sockets.NAME] section"
	}
	names := sortedKeys(sockets)
	return "defined sockets: " + strings.Join(names, ", ")
}

// pathErr drops the path an *os.PathError repeats.
func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// maxID is the largest valid uid/gid ((uid_t)-1 is reserved).
const maxID = 1<<32 - 2

// lookupUser resolves a user name or number. A number need not have a
// passwd entry: the kernel accepts any id (common in containers).
func lookupUser(s string) (*user.User, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n > maxID {
			return nil, fmt.Errorf("uid %s is out of range", s)
		}
		if u, err := user.LookupId(s); err == nil {
			return u, nil
		}
		return &user.User{Uid: s, Gid: s}, nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return nil, fmt.Errorf("no user %q on this machine: use an existing user name or a number", s)
	}
	return u, nil
}

func lookupGroup(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n > maxID {
			return 0, fmt.Errorf("gid %s is out of range", s)
		}
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("no group %q on this machine: use an existing group name or a number", s)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has a non-numeric id %q", s, g.Gid)
	}
	return uint32(n), nil
}

// Credential resolves UID and GID for os/exec's SysProcAttr.Credential:
// nil when both are empty (workers run as poold). With only UID the gid is
// the user's primary group and the groups are the user's supplementary
// groups; with only GID the uid is poold's. Load has already checked that
// the names exist, but users can vanish, so this looks them up again.
func (w Watcher) Credential() (*syscall.Credential, error) {
	if w.UID == "" && w.GID == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	if w.UID != "" {
		u, err := lookupUser(w.UID)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: uid: %w", w.Name, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil && u.Username != "" {
			for _, s := range ids {
				if g, err := strconv.ParseUint(s, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(g))
				}
			}
		}
	}
	if w.GID != "" {
		gid, err := lookupGroup(w.GID)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: gid: %w", w.Name, err)
		}
		cred.Gid = gid
	}
	if w.UID == "" {
		cred.NoSetGroups = true
	}
	return cred, nil
}
