package main

import (
	"runtime/debug"
	"testing"
)

// TestDefaultGC: vaspgate runs with GOGC 400 when the environment sets none, and leaves
// the runtime's setting alone when it does (whatever its value, even an empty one).
// Not parallel: the GC percent is the process's.
func TestDefaultGC(t *testing.T) {
	const runtimes = 150 // what the runtime would have from GOGC=150
	cases := []struct {
		name string
		env  map[string]string
		want int
	}{
		{name: "GOGC unset", env: map[string]string{}, want: gcPercent},
		{name: "GOGC set", env: map[string]string{"GOGC": "150"}, want: runtimes},
		{name: "GOGC set empty", env: map[string]string{"GOGC": ""}, want: runtimes},
		{name: "only GOMEMLIMIT set", env: map[string]string{"GOMEMLIMIT": "1GiB"}, want: gcPercent},
	}
	old := debug.SetGCPercent(runtimes)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(runtimes)
			defaultGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got := debug.SetGCPercent(runtimes); got != tc.want {
				t.Errorf("GC percent %d, want %d", got, tc.want)
			}
		})
	}
}
