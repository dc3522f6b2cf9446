package web

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/procinfo"
)

// roundTrip is what plain gave before it copied without JSON.
func roundTrip(t *testing.T, v any) (map[string]any, error) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func samePlain(t *testing.T, v any) {
	t.Helper()
	want, wantErr := roundTrip(t, v)
	got, err := plain(v)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("plain error %v, JSON round trip's %v", err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plain:\n got %#v\nwant %#v", got, want)
	}
}

type ptrNumber struct{ n int }

func (p *ptrNumber) MarshalJSON() ([]byte, error) { return []byte(strconv.Itoa(p.n)), nil }

type spaced string

func (s spaced) MarshalJSON() ([]byte, error) { return []byte(` "` + string(s) + `" `), nil }

// TestPlainIsTheJSONRoundTrip: plain gives exactly what a JSON round trip
// gives (types included: a nil slice is a nil any, every number a
// float64), for the maps poold's replies and events hold and for what it
// leaves to JSON.
func TestPlainIsTheJSONRoundTrip(t *testing.T) {
	t.Parallel()
	self, err := procinfo.New().Info(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	stat := self.Map()
	stat["state"], stat["restarts"], stat["subtopic"], stat["name"] = "active", float64(2), os.Getpid(), nil
	for name, v := range map[string]any{
		"stat": stat,
		"numbers": map[string]any{
			"int": math.MaxInt64, "i64": int64(-7), "i32": int32(7), "u64": uint64(math.MaxUint64), "u32": uint32(9),
			"neg0": math.Copysign(0, -1), "tiny": 5e-324, "big": 1e300, "float": procinfo.Float(12), "f2": procinfo.Float(0.1),
		},
		"lists": map[string]any{
			"nil": []any(nil), "empty": []any{}, "strs": []string{"a", "é"}, "nilstrs": []string(nil), "ints": []int{1, -2},
			"nilmap": map[string]any(nil), "nested": []any{map[string]any{"a": []any{nil, true}}},
		},
		"strings": map[string]any{"html": "<&>", "uni": "\u2028☃", "bad": "a\xffb"},
		"badkey":  map[string]any{"a\xff": 1},
		"json": map[string]any{
			"ptr": &ptrNumber{4}, "nilptr": (*ptrNumber)(nil), "spaced": spaced("x"), "time": time.Unix(5, 0).UTC(),
			"dur": time.Second, "strmap": map[string]string{"a": "b"}, "f32": float32(0.1), "bytes": []byte("x"),
		},
		"refused": map[string]any{"nan": math.NaN()},
		"nilmap":  map[string]any(nil),
		"struct":  struct{ A int }{1},
	} {
		t.Run(name, func(t *testing.T) { samePlain(t, v) })
	}
}

// TestPlainRandom compares plain with the JSON round trip over random
// nested maps.
func TestPlainRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		v := randomPlainMap(r, 0)
		if !t.Run(strconv.Itoa(i), func(t *testing.T) { samePlain(t, v) }) {
			return
		}
	}
}

// TestPlainSharesNothing: a change to plain's result leaves its input as
// it was (the model must never alias the backend's data).
func TestPlainSharesNothing(t *testing.T) {
	t.Parallel()
	in := map[string]any{"l": []any{1.0}, "m": map[string]any{"a": 1.0}}
	out, err := plain(in)
	if err != nil {
		t.Fatal(err)
	}
	out["l"].([]any)[0] = 2.0
	out["m"].(map[string]any)["a"] = 2.0
	if in["l"].([]any)[0] != 1.0 || in["m"].(map[string]any)["a"] != 1.0 {
		t.Errorf("plain's result aliases its input: %v", in)
	}
}

func randomPlainMap(r *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for range r.IntN(20) {
		m[randomPlainString(r)] = randomPlainValue(r, depth)
	}
	return m
}

func randomPlainValue(r *rand.Rand, depth int) any {
	switch r.IntN(11) {
	case 0:
		if depth < 3 {
			return randomPlainMap(r, depth+1)
		}
	case 1:
		if depth < 3 {
			l := make([]any, r.IntN(4))
			for i := range l {
				l[i] = randomPlainValue(r, depth+1)
			}
			return l
		}
	case 2:
		return randomPlainString(r)
	case 3:
		return r.IntN(2) == 0
	case 4:
		return r.Int64() - r.Int64()
	case 5:
		f := math.Float64frombits(r.Uint64())
		for math.IsNaN(f) || math.IsInf(f, 0) {
			f = math.Float64frombits(r.Uint64())
		}
		return f
	case 6:
		return procinfo.Float(r.NormFloat64() * 100)
	case 7:
		return r.Uint64()
	case 8:
		return []int{r.Int()}
	case 9:
		return nil
	}
	return []string{randomPlainString(r)}
}

func randomPlainString(r *rand.Rand) string {
	const chars = "abc019 _-.\"\\<>&\x00\n\u00e9\xff"
	var sb strings.Builder
	for range r.IntN(8) {
		sb.WriteByte(chars[r.IntN(len(chars))])
	}
	return sb.String()
}

// TestPageProcBeforePlain: the hub keeps of a worker's stats message
// plain(pageProc(fields)), which is what it kept before, pageProc of the
// whole message's JSON round trip, children included.
func TestPageProcBeforePlain(t *testing.T) {
	t.Parallel()
	self, err := procinfo.New().Info(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	kid := self
	kid.Children = []procinfo.Info{self}
	self.Children = []procinfo.Info{kid}
	f := self.Map()
	f["state"], f["restarts"], f["subtopic"], f["name"] = "active", float64(2), os.Getpid(), nil
	whole, err := roundTrip(t, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := plain(pageProc(f))
	if err != nil {
		t.Fatal(err)
	}
	if want := pageProc(whole); !reflect.DeepEqual(got, want) {
		t.Errorf("plain(pageProc):\n got %#v\nwant %#v", got, want)
	}
}
