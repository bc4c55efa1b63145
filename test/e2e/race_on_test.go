//go:build race

package e2e

// raceDetector: the race detector slows code down several times; time limits measured from
// the outside are scaled by it (the limits themselves are asserted without it and measured by
// vaspgate bench travelrule).
const raceDetector = true
