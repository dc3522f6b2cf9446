package procinfo

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMapMatchesJSON(t *testing.T) {
	in := Info{PID: 10, WID: 2, Cmdline: "w", Username: "root", Nice: -5, CPU: 12.5, Mem: 0.3,
		MemInfo1: "14M", MemInfo2: "1.2G", Ctime: "0:01.20", CreateTime: 1.7e9, Age: 3.5, Started: 1.7e9,
		RSS: 14 << 20, VMS: 1 << 30, CPUUser: 1, CPUSystem: 0.2, PPID: 1, Threads: 4, ProcState: "sleeping",
		Argv: []string{"w", "-x"}, FDs: ptr(12), FDLimit: ptr(int64(1024)), Children: []Info{{PID: 11, Children: []Info{}, Argv: []string{}}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	mb, err := json.Marshal(in.Map())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Map differs from the JSON form (-json +map):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }
