package main

import (
	"errors"
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
		if h := sockets.InUseHint(network, addr, inUseTodo(be.Key)); h != "" {
			be.Hint = h
		}
	}
	return err
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
