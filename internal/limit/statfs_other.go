//go:build !unix

package limit

import "errors"

// freeBytes cannot measure free space here: the disk guard lets everything through.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("limit: free space unknown on this system")
}
