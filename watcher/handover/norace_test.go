//go:build !race

package handover

const raceDetector = false
