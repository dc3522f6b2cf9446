package procinfo

import "golang.org/x/sys/unix"

// Usage is what a metrics scrape needs of one process, or of a process
// tree (TreeUsage): resident memory and CPU time.
type Usage struct {
	RSS        uint64  // bytes
	CPUSeconds float64 // user + system, over its life
}

// readSmall reads a /proc file that fits in buf.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
