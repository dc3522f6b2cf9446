//go:build race

package handover

// raceDetector: the race detector's instrumentation moves buffers to
// the heap, so allocation figures are not the product's.
const raceDetector = true
