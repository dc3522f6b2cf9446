package arbiter

import "time"

// warmWatch is a warm elastic watcher of the demand monitor on one TCP
// listener fd, with idle_timeout idle, read every demandSample.
func warmWatch(id uint64, fd int, idle time.Duration) demandWatch {
	return demandWatch{id: id, fds: []int{fd}, names: []string{"front"}, tcp: []bool{true}, idle: idle}
}

// quietWatch is warmWatch read every quiet once its queue stayed empty.
func quietWatch(id uint64, fd int, quiet time.Duration) demandWatch {
	w := warmWatch(id, fd, 0)
	w.quiet = quiet
	return w
}
