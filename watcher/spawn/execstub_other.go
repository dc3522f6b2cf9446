//go:build !amd64

package spawn

// execStubCode is empty where there is no stub: the spawner uses /bin/sh
// for LISTEN_PID and a umask (see execstub.go).
var execStubCode []byte
