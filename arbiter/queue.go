package arbiter

import "golang.org/x/sys/unix"

// acceptQueue is the number of connections waiting in a listening TCP
// socket's accept queue (the kernel reports it as tcpi_unacked for a
// listener); 0 for a unix socket or on error. The stats stream reports it
// as the socket's "reads".
func acceptQueue(fd int) int {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0
	}
	return int(ti.Unacked)
}
