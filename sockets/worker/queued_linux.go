package worker

import (
	"syscall"
	"time"
	"unsafe"
)

// queued returns how many bytes wait in socket fd's receive queue.
func queued(fd uintptr) (int, error) {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sinceData returns how long ago data last came on TCP socket fd, or
// since it was accepted when none has (Linux's tcpi_last_data_recv;
// acknowledgements alone do not count).
func sinceData(fd uintptr) (time.Duration, error) {
	var info syscall.TCPInfo
	n := uint32(unsafe.Sizeof(info))
	if _, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0); errno != 0 {
		return 0, errno
	}
	return time.Duration(info.Last_data_recv) * time.Millisecond, nil
}
