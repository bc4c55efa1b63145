//go:build unix

package limit

import (
	"os"
	"path/filepath"
	"syscall"
)

// freeBytes is the space an unprivileged process may still write on path's filesystem. A
// path that does not exist yet is measured at its nearest existing parent (the spool
// directory is made on first use).
func freeBytes(path string) (uint64, error) {
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(path, &st)
		if err == nil {
			return uint64(st.Bavail) * uint64(st.Bsize), nil
		}
		parent := filepath.Dir(path)
		if !os.IsNotExist(err) || parent == path {
			return 0, err
		}
		path = parent
	}
}
