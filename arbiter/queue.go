package arbiter

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// queueOf reads a listening socket's accept queue: the connections
// waiting to be accepted and the most that may wait (the backlog the
// kernel applies: the configured one, capped by net.core.somaxconn).
// TCP: TCP_INFO on the listener, where tcpi_unacked is the queue and
// tcpi_sacked its limit. Unix: sock_diag's UNIX_DIAG_RQLEN (unixQueue).
func queueOf(fd int) (length, limit int, err error) {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return 0, 0, fmt.Errorf("socket fd %d: SO_DOMAIN: %w", fd, err)
	}
	if domain == unix.AF_UNIX {
		return unixQueue(fd)
	}
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, 0, fmt.Errorf("socket fd %d: TCP_INFO: %w", fd, err)
	}
	return int(ti.Unacked), int(ti.Sacked), nil
}
