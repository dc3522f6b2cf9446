package procinfo

// Map is the info as the map its JSON decodes to (numbers as float64,
// lists as []any), built without a JSON round trip: the stats stream
// publishes one for every worker every second. cpu and mem are Float, so
// that they are written as floats even when whole, as Circus's are.
func (in Info) Map() map[string]any {
	children := make([]any, len(in.Children))
	for i, c := range in.Children {
		children[i] = c.Map()
	}
	argv := make([]any, len(in.Argv))
	for i, a := range in.Argv {
		argv[i] = a
	}
	m := map[string]any{
		"pid": float64(in.PID), "wid": float64(in.WID), "cmdline": in.Cmdline, "username": in.Username,
		"nice": float64(in.Nice), "cpu": in.CPU, "mem": in.Mem, "mem_info1": in.MemInfo1, "mem_info2": in.MemInfo2,
		"ctime": in.Ctime, "create_time": in.CreateTime, "age": in.Age, "started": in.Started, "children": children,
		"rss": float64(in.RSS), "vms": float64(in.VMS), "cpu_user": in.CPUUser, "cpu_system": in.CPUSystem,
		"ppid": float64(in.PPID), "num_threads": float64(in.Threads), "proc_state": in.ProcState, "argv": argv,
	}
	if in.FDs != nil {
		m["fds"] = float64(*in.FDs)
	}
	if in.FDLimit != nil {
		m["fds_limit"] = float64(*in.FDLimit)
	}
	return m
}
