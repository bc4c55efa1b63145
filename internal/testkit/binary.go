package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryOut  []byte
	binaryErr  error
)

// Binary builds cmd/vaspgate once per test process and returns its path: process tests run
// the real program, as an operator does, and share one build rather than each package
// keeping its own copy of the build step.
func Binary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vaspgate-test-bin")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "vaspgate")
		binaryOut, binaryErr = exec.Command("go", "build", "-o", binaryPath, "github.com/vaspgate/vaspgate/cmd/vaspgate").CombinedOutput()
	})
	if binaryErr != nil {
		t.Fatalf("go build: %v\n%s", binaryErr, binaryOut)
	}
	return binaryPath
}
