package arbiter

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// A reply is encoded into one buffer, as json.Marshal would encode it
// (the same bytes: keys sorted, HTML escaped), but with each process's
// info encoded on its own. json.Marshal builds the whole text in one
// buffer that grows by doubling and then copies it out: for `stats` of
// 10,000 workers (a 4 MiB reply) that is 12 MiB of fresh memory, every
// page of it faulted in and cleared, on the first call after poold sat
// idle (the encoder's pooled buffer is gone after two GCs). Here the
// buffer is sized once from the first process's text and the worker
// count, and handed out as it is.

// marshalReply encodes r as json.Marshal(r) does, or fails where it
// fails.
func marshalReply(r Reply) ([]byte, error) {
	w := replyWriter{infos: countInfos(r)}
	w.enc = json.NewEncoder(&w.buf)
	if err := w.value(r); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// maxInfoGuess bounds the size one process info is taken to have when
// the buffer is grown for all: a worker without children is about 400
// bytes.
const maxInfoGuess = 1024

// replyWriter is one reply's encoding: buf holds the text so far; enc
// writes a single value into it; infos is how many ProcInfo the reply
// holds, by which buf is grown at the first of them.
type replyWriter struct {
	buf   bytes.Buffer
	enc   *json.Encoder
	infos int
	sized bool
}

// value writes v. The maps that hold process infos (and the maps above
// them) are walked here; any other value is encoding/json's.
func (w *replyWriter) value(v any) error {
	switch v := v.(type) {
	case Reply:
		return object(w, v, w.value)
	case map[string]any:
		return object(w, v, w.value)
	case map[string]map[string]ProcInfo:
		return object(w, v, func(m map[string]ProcInfo) error { return object(w, m, w.info) })
	case map[string]ProcInfo:
		return object(w, v, w.info)
	}
	return w.encode(v)
}

// info writes one process's info; at the first, it makes room for all.
func (w *replyWriter) info(in ProcInfo) error {
	n := w.buf.Len()
	if err := w.encode(in); err != nil {
		return err
	}
	if !w.sized && w.infos > 1 {
		w.sized = true
		// Each info is about as long as the first (the same fields;
		// children make some longer: an eighth more, and the buffer
		// grows as ever if that is not enough). A first with a big
		// tree (a master of 64 workers) counts as maxInfoGuess only:
		// sized by it, a reply of 10,000 could ask for a gigabyte.
		one := min(w.buf.Len()-n+16, maxInfoGuess)
		w.buf.Grow(one * (w.infos - 1) * 9 / 8)
	}
	return nil
}

// encode writes v as encoding/json does, without the newline the
// Encoder ends a value with.
func (w *replyWriter) encode(v any) error {
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.buf.Truncate(w.buf.Len() - 1)
	return nil
}

// object writes m as a JSON object, keys sorted as encoding/json sorts
// a map's string keys, each value by each; a nil map is null.
func object[V any](w *replyWriter, m map[string]V, each func(V) error) error {
	if m == nil {
		w.buf.WriteString("null")
		return nil
	}
	w.buf.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		if err := w.encode(k); err != nil {
			return err
		}
		w.buf.WriteByte(':')
		if err := each(m[k]); err != nil {
			return err
		}
	}
	w.buf.WriteByte('}')
	return nil
}

// countInfos is how many ProcInfo the values of r hold (a stats reply's
// infos: by watcher, or one watcher's).
func countInfos(r Reply) int {
	n := 0
	for _, v := range r {
		switch v := v.(type) {
		case map[string]map[string]ProcInfo:
			for _, m := range v {
				n += len(m)
			}
		case map[string]ProcInfo:
			n += len(v)
		}
	}
	return n
}
