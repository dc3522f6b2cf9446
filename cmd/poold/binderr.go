package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/sockets"
)

// explainBind completes the bind error of one of poold's endpoints or
// listeners with the config file that sets it and, for a tcp address
// another process holds, that process (as a socket's bind error names
// it). Other errors are returned as they are.
func explainBind(err error, file string) error {
	var be *zmqguard.BindErr
	if !errors.As(err, &be) {
		return err
	}
	be.File = file
	if errors.Is(err, syscall.EADDRINUSE) {
		network, addr := "tcp", strings.TrimPrefix(be.Endpoint, "tcp://")
		if path, ok := strings.CutPrefix(be.Endpoint, "ipc://"); ok {
			network, addr = "unix", path
		}
		if ps := sockets.PassedOn(passedSockets, network, addr); ps != "" {
			be.Hint = "the service manager passed poold a socket there (" + ps + "), which only a [sockets.NAME] on that address takes, never " +
				be.Key + ": remove it from the .socket unit (ListenStream=), or give " + be.Key + " another address"
		} else if h := sockets.InUseHint(network, addr, inUseTodo(be.Key)); h != "" {
			be.Hint = h
			_, pids := sockets.HeldHint(network, addr, "")
			be.ByOther = len(pids) > 0 && !slices.ContainsFunc(pids, isPoold)
		}
	}
	inFileTerms(be)
	return err
}

// inFileTerms tells be's key in the words of the Circus or supervisord
// file it came from, which have no arbiter.* or web.* keys: a circus.ini
// its [circus] option, a supervisord file (no option for it) the POOLD_
// variable that sets the key.
func inFileTerms(be *zmqguard.BindErr) {
	doc, foreign, err := translateFile(be.File)
	if err != nil || !foreign || doc == nil {
		return
	}
	key := be.Key
	if doc.Format == "Circus" {
		name, ok := circusBindKeys[key]
		if !ok {
			return
		}
		be.Key = name
		be.Hint = strings.NewReplacer(key, name, "web.enabled = false", "httpd = False").Replace(be.Hint)
		return
	}
	env := "POOLD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	be.Hint = strings.NewReplacer("change "+key, "set "+env+" ("+filepath.Base(be.File)+" has no option for "+key+")",
		"set "+key+" to", "set "+env+" to").Replace(be.Hint)
}

// circusBindKeys names the circus.ini option of each key poold binds.
var circusBindKeys = map[string]string{
	"arbiter.endpoint": "[circus] endpoint", "arbiter.pubsub_endpoint": "[circus] pubsub_endpoint",
	"arbiter.stats_endpoint": "[circus] stats_endpoint", "web.address": "[circus] httpd_host and httpd_port",
}

// inUseTodo is what to do when the address of key is taken.
func inUseTodo(key string) string {
	switch key {
	case "web.address":
		return "stop that process, or set web.address to a free host:port, or web.enabled = false"
	case "web.metrics_address":
		return "stop that process, or set web.metrics_address to a free host:port, or remove it"
	}
	return "stop that process or change " + key
}

// isPoold: process pid runs a poold (its executable is named poold, or is
// this one's: a test binary, a renamed copy).
func isPoold(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil { // another user's: its name is all there is
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return err == nil && strings.HasPrefix(strings.TrimSpace(string(comm)), "poold")
	}
	self, _ := os.Executable()
	return strings.HasPrefix(filepath.Base(exe), "poold") || exe == self
}
