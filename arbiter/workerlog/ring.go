package workerlog

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Record is one line a worker wrote, without its line terminator.
type Record struct {
	Seq     uint64    `json:"seq"` // per watcher, from 1, no gaps
	Time    time.Time `json:"time"`
	Watcher string    `json:"watcher"`
	Wid     int       `json:"wid"`
	Pid     int       `json:"pid"`
	Stream  string    `json:"stream"` // stdout or stderr
	Line    string    `json:"line"`
}

// Format says how a record is written to a file.
type Format struct {
	Timestamps bool // an RFC 3339 time (UTC, microseconds) and a space before the line
	JSON       bool // one JSON object per line (time, watcher, wid, pid, stream, line)
}

// Append appends r as one line in format f to b.
func (f Format) Append(b []byte, r *Record) []byte {
	if f.JSON {
		b = append(b, `{"time":"`...)
		b = r.Time.UTC().AppendFormat(b, rfc3339Micro)
		b = append(b, `","watcher":`...)
		b = strconv.AppendQuote(b, r.Watcher)
		b = append(b, `,"wid":`...)
		b = strconv.AppendInt(b, int64(r.Wid), 10)
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(r.Pid), 10)
		b = append(b, `,"stream":"`...)
		b = append(b, r.Stream...)
		b = append(b, `","line":`...)
		line, _ := json.Marshal(r.Line) // a string always marshals
		b = append(b, line...)
		return append(b, "}\n"...)
	}
	if f.Timestamps {
		b = r.Time.UTC().AppendFormat(b, rfc3339Micro)
		b = append(b, ' ')
	}
	b = append(b, r.Line...)
	return append(b, '\n')
}

const rfc3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// ringBytes bounds the text a ring holds whatever its line count: a
// thousand lines of 64 KiB would otherwise be 64 MiB per watcher.
const ringBytes = 4 << 20

// Ring keeps the last lines of one watcher's workers, bounded in lines and
// bytes, for `poolctl logs` and the console. Readers ask for what follows
// a sequence number and learn how many lines they missed.
type Ring struct {
	mu    sync.Mutex
	max   int
	buf   []Record // circular, every element a slot: oldest at head
	head  int
	n     int
	bytes int
	seq   uint64 // last assigned
}

// NewRing returns a ring of at most lines records (0: it keeps none but
// still numbers them).
func NewRing(lines int) *Ring {
	return &Ring{max: lines}
}

// Resize changes the line bound; the oldest records go first.
func (r *Ring) Resize(lines int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snapshot(0)
	r.max, r.buf, r.head, r.n, r.bytes = lines, nil, 0, 0, 0
	for i := range old {
		r.push(old[i])
	}
}

// Add numbers recs (setting Seq) and keeps them.
func (r *Ring) Add(recs []Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range recs {
		r.seq++
		recs[i].Seq = r.seq
		r.push(recs[i])
	}
}

func (r *Ring) push(rec Record) {
	if r.max == 0 {
		return
	}
	for r.n > 0 && (r.n >= r.max || r.bytes+len(rec.Line) > ringBytes) {
		r.bytes -= len(r.buf[r.head].Line)
		r.buf[r.head] = Record{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	if r.n == len(r.buf) { // every slot taken, yet under max: grow
		r.grow()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = rec
	r.n++
	r.bytes += len(rec.Line)
}

// grow doubles the slots (at least 64, at most max), oldest record
// first: a ring filled line by line copies each record a constant number
// of times on average, whichever of its bounds holds it.
func (r *Ring) grow() {
	grown := make([]Record, min(max(2*len(r.buf), 64), r.max))
	for i := 0; i < r.n; i++ {
		grown[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = grown, 0
}

// snapshot copies the records with Seq > after, oldest first.
func (r *Ring) snapshot(after uint64) []Record {
	var out []Record
	for i := 0; i < r.n; i++ {
		rec := r.buf[(r.head+i)%len(r.buf)]
		if rec.Seq > after {
			out = append(out, rec)
		}
	}
	return out
}

// Since returns the kept records with Seq > after, oldest first, the last
// sequence number assigned, and how many records after `after` are no
// longer kept (a reader that fell behind).
func (r *Ring) Since(after uint64) (recs []Record, last, missed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs = r.snapshot(after)
	first := r.seq + 1 // Seq of the oldest kept record
	if len(recs) > 0 {
		first = recs[0].Seq
	} else if r.n > 0 && r.buf[r.head].Seq > after {
		first = r.buf[r.head].Seq
	}
	if first > after+1 && after < r.seq {
		missed = first - after - 1
	}
	return recs, r.seq, missed
}

// Newest returns the newest records, at most lines of them holding at
// most bytes of text, oldest first, and the last sequence number
// assigned. It copies only those (Since copies the whole ring).
func (r *Ring) Newest(lines, bytes int) ([]Record, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, size := 0, 0
	for k < r.n && k < lines {
		l := len(r.buf[(r.head+r.n-1-k)%len(r.buf)].Line)
		if size+l > bytes {
			break
		}
		size += l
		k++
	}
	out := make([]Record, k)
	for i := range out {
		out[i] = r.buf[(r.head+r.n-k+i)%len(r.buf)]
	}
	return out, r.seq
}

// Restore puts back the records a previous process of poold kept (an
// upgrade's old image), oldest first, with the last sequence number it
// assigned: the numbers go on from there. It comes before any Add.
func (r *Ring) Restore(recs []Record, last uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		r.push(rec)
	}
	r.seq = max(r.seq, last)
}

// Cap is the ring's line bound.
func (r *Ring) Cap() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max
}

// Last is the sequence number of the last record added (0: none yet).
func (r *Ring) Last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}
