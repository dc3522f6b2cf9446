package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// number is a json.Marshaler that writes a number, as procinfo.Float does.
type number float64

func (n number) MarshalJSON() ([]byte, error) {
	b := strconv.AppendFloat(nil, float64(n), 'f', -1, 64)
	if !bytes.ContainsAny(b, ".e") {
		b = append(b, ".0"...)
	}
	return b, nil
}

// quoted is a json.Marshaler that writes a string, with spaces that
// json.Marshal compacts away.
type quoted string

func (q quoted) MarshalJSON() ([]byte, error) { return []byte(` "` + string(q) + `" `), nil }

// ptrMarshaler marshals through a pointer receiver.
type ptrMarshaler struct{ n int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(strconv.Itoa(p.n)), nil }

// bad is a json.Marshaler that fails.
type bad struct{}

func (bad) MarshalJSON() ([]byte, error) { return nil, errors.New("bad") }

type named string

// TestMarshalPayloadAsJSON: MarshalPayload writes exactly the bytes of
// json.Marshal(Payload()) (Circus clients and poold's own decode it; the
// web console and tests compare it), whatever the fields hold.
func TestMarshalPayloadAsJSON(t *testing.T) {
	at := time.Unix(1765000000, 123456789)
	cases := map[string]map[string]any{
		"empty": nil,
		"stat": {
			"pid": float64(4242), "wid": float64(3), "cmdline": "sleep", "username": "root", "nice": float64(0),
			"cpu": number(0), "mem": number(0.012), "mem_info1": "1.23M", "mem_info2": "8.05M", "ctime": "0:00.01",
			"create_time": number(1765000000.12), "age": number(12.3456), "started": 1765000000.13, "children": []any{},
			"rss": float64(1290240), "vms": float64(8441856), "cpu_user": 0.01, "cpu_system": float64(0),
			"ppid": float64(1), "num_threads": float64(1), "proc_state": "sleeping", "argv": []any{"/bin/sleep", "3600"},
			"state": "active", "restarts": float64(0), "subtopic": 4242, "name": nil,
		},
		"aggregate": {"pid": []int{3, 1, 2}, "cpu": number(1.5), "mem": number(0.3), "age": number(7), "name": "web"},
		"sockets":   {"addresses": []string{"127.0.0.1:80", "unix:/run/a.sock"}, "reads": 0},
		"overrides": {"time": "not a time", "seq": -1, "z": true, "a": false},
		"strings": {
			"html": "<a href=\"x\">&</a>", "ctl": "a\x00b\tc\nd\re\bf\fg\x1f", "uni": "héllo ☃ \u2028\u2029",
			"bad": "\xff\xfe", "back": `a\b`, "": "empty key", "key <&>": "k",
		},
		"floats": {
			"zero": 0.0, "neg0": math.Copysign(0, -1), "tiny": 1e-7, "edge": 1e-6, "big": 1e21, "below": 999999999999999999999.0,
			"third": 1.0 / 3, "neg": -2.5e-9, "max": math.MaxFloat64, "min": math.SmallestNonzeroFloat64, "whole": 3.0,
		},
		"ints": {
			"int": math.MinInt64, "i64": int64(math.MaxInt64), "i32": int32(-7), "u64": uint64(math.MaxUint64),
			"u32": uint32(7), "uint": uint(9), "i8": int8(-8), "u16": uint16(16),
		},
		"nested": {
			"m":    map[string]any{"b": []any{1, "x", nil, map[string]any{}}, "a": map[string]any(nil)},
			"nils": []any{[]any(nil), []string(nil), []int(nil)}, "mixed": []any{number(2), quoted("q"), named("n")},
		},
		"marshalers": {
			"quoted": quoted("x"), "ptr": &ptrMarshaler{5}, "nilptr": (*ptrMarshaler)(nil), "byvalue": ptrMarshaler{6},
			"time": at, "dur": time.Second, "bytes": []byte("hi"), "strmap": map[string]string{"b": "1", "a": "2"},
			"f32": float32(0.1), "struct": struct{ A int }{1},
		},
	}
	cases["instance field"] = map[string]any{"instance": 3, "a": 1}
	for name, fields := range cases {
		t.Run(name, func(t *testing.T) {
			ev := Event{Seq: 77, Time: at, Topic: "stat.x", Fields: fields}
			samePayload(t, ev)
			ev.Instance = "0123456789ab" // the lifecycle bus's events
			samePayload(t, ev)
		})
	}
}

// TestMarshalPayloadRandom compares MarshalPayload with json.Marshal over
// random nested payloads.
func TestMarshalPayloadRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		ev := Event{Seq: r.Uint64(), Time: time.Unix(0, r.Int64()), Fields: randomMap(r, 0)}
		if !t.Run(strconv.Itoa(i), func(t *testing.T) { samePayload(t, ev) }) {
			return
		}
	}
}

// TestMarshalPayloadRefused: a value json.Marshal refuses (NaN, a failing
// Marshaler) still panics, as before: poold builds every field itself.
func TestMarshalPayloadRefused(t *testing.T) {
	for name, v := range map[string]any{"nan": math.NaN(), "inf": math.Inf(1), "bad": bad{}, "nested": []any{math.NaN()}} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("MarshalPayload of %v did not panic", v)
				}
			}()
			Event{Fields: map[string]any{"v": v}}.MarshalPayload()
		})
	}
}

func samePayload(t *testing.T, ev Event) {
	t.Helper()
	want, err := json.Marshal(ev.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.MarshalPayload(); !bytes.Equal(got, want) {
		t.Errorf("MarshalPayload:\n got %s\nwant %s", got, want)
	}
}

func randomMap(r *rand.Rand, depth int) map[string]any {
	n := r.IntN(40)
	if depth > 0 {
		n = r.IntN(5)
	}
	m := make(map[string]any, n)
	for range n {
		m[randomString(r)] = randomValue(r, depth)
	}
	return m
}

func randomValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(12); {
	case k == 0 && depth < 3:
		return randomMap(r, depth+1)
	case k == 1 && depth < 3:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomValue(r, depth+1)
		}
		return l
	case k == 2:
		return randomString(r)
	case k == 3:
		return r.IntN(2) == 0
	case k == 4:
		return r.Int() - r.Int()
	case k == 5:
		f := math.Float64frombits(r.Uint64())
		for math.IsNaN(f) || math.IsInf(f, 0) {
			f = math.Float64frombits(r.Uint64())
		}
		return f
	case k == 6:
		return number(math.Round(r.NormFloat64()*1e4) / 1e3)
	case k == 7:
		return float64(r.IntN(1e6)) / 1e3
	case k == 8:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))
	case k == 9:
		return []int{r.Int(), -r.IntN(9)}
	case k == 10:
		return nil
	}
	return []string{randomString(r)}
}

// randomString is mostly plain ASCII, sometimes with what JSON escapes.
func randomString(r *rand.Rand) string {
	const plain = "abcXYZ019 -_./:=+"
	const odd = "\"\\<>&\x00\n\t\x7f\u00e9\u2028\xff"
	var sb strings.Builder
	for range r.IntN(12) {
		if r.IntN(10) == 0 {
			sb.WriteByte(odd[r.IntN(len(odd))])
		} else {
			sb.WriteByte(plain[r.IntN(len(plain))])
		}
	}
	return sb.String()
}

// BenchmarkMarshalPayload encodes a stats-stream message of one worker
// (stat.<watcher>.<pid>), as the ZeroMQ publisher does for every worker
// every stats_interval.
func BenchmarkMarshalPayload(b *testing.B) {
	f := map[string]any{
		"pid": float64(4242), "wid": float64(3), "cmdline": "sleep", "username": "root", "nice": float64(0),
		"cpu": number(0), "mem": number(0.012), "mem_info1": "1.23M", "mem_info2": "8.05M", "ctime": "0:00.01",
		"create_time": number(1765000000.12), "age": number(12.3456), "started": 1765000000.13, "children": []any{},
		"rss": float64(1290240), "vms": float64(8441856), "cpu_user": 0.01, "cpu_system": float64(0),
		"ppid": float64(1), "num_threads": float64(1), "proc_state": "sleeping", "argv": []any{"/bin/sleep", "3600"},
		"state": "active", "restarts": float64(0), "subtopic": 4242, "name": nil,
	}
	ev := Event{Seq: 77, Time: time.Unix(1765000000, 123456789), Topic: "stat.web.4242", Fields: f}
	b.Run("MarshalPayload", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ev.MarshalPayload()
		}
	})
	// What MarshalPayload did before payload.go, for comparison.
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ev.Payload()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarshalLifecyclePayload: a spawn event's payload with and
// without the instance key (bytes/op is the payload's size).
func BenchmarkMarshalLifecyclePayload(b *testing.B) {
	f := map[string]any{"process_pid": 4242, "process_id": 7}
	for _, inst := range []string{"", NewInstance()} {
		ev := Event{Seq: 123456, Time: time.Unix(1765000000, 123456789), Topic: "watcher.web.spawn", Fields: f, Instance: inst}
		b.Run("instance="+strconv.FormatBool(inst != ""), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = len(ev.MarshalPayload())
			}
			b.ReportMetric(float64(n), "bytes/payload")
		})
	}
}
