package limit

import "fmt"

// Disk refuses writes that would leave less than Reserve bytes free on the filesystem of any
// of Paths: the travel-rule spool directory (where acknowledged enclave callbacks go when the
// database cannot take them) and, on SQLite, the database's directory. Uploads are what an
// anonymous wallet can make big, so they are refused first, while the spool still has room.
type Disk struct {
	Paths   []string
	Reserve uint64
	// free reports the bytes available to vaspgate on path's filesystem (statfs); a test
	// replaces it.
	free func(path string) (uint64, error)
}

// NewDisk returns the guard for paths with reserve bytes kept free; reserve 0 turns it off.
func NewDisk(reserve uint64, paths ...string) *Disk {
	return &Disk{Paths: paths, Reserve: reserve, free: freeBytes}
}

// Check returns a *DiskError when writing need more bytes would leave less than the reserve
// on any path's filesystem. A filesystem it cannot measure (a path not created yet, an
// operating system without statfs) is not held against the request.
func (d *Disk) Check(need int64) error {
	if d == nil || d.Reserve == 0 {
		return nil
	}
	for _, p := range d.Paths {
		free, err := d.free(p)
		if err != nil {
			continue
		}
		want := d.Reserve + uint64(max(need, 0))
		if free < want {
			return &DiskError{Path: p, Free: free, Required: want}
		}
	}
	return nil
}

// String describes the guard for a start-up log line.
func (d *Disk) String() string {
	return fmt.Sprintf("reserve %d bytes on %v", d.Reserve, d.Paths)
}
