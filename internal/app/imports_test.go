package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConfigStopsAtApp: configuration is read by app (and the binary, and config itself);
// every other package takes its own Options, built in app (options.go). A package that
// imports internal/config again fails here, named.
func TestConfigStopsAtApp(t *testing.T) {
	t.Parallel()
	const module = "github.com/vaspgate/vaspgate"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := func(pkg string) bool {
		switch {
		case pkg == module+"/internal/app", pkg == module+"/internal/config",
			pkg == module+"/cmd/vaspgate", strings.HasPrefix(pkg, module+"/cmd/vaspgate/"):
			return true
		}
		return false
	}
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		checked++
		pkg := fields[0]
		for _, imp := range fields[1:] {
			if imp == module+"/internal/config" && !allowed(pkg) {
				t.Errorf("%s imports internal/config: give it an Options struct and build it in internal/app/options.go", pkg)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("go list named only %d packages:\n%s", checked, out)
	}
}
