package travelrulebench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
)

// clockTicks is the kernel's USER_HZ, the unit of CPU times in /proc/PID/stat (100 on Linux
// builds for every common architecture).
const clockTicks = 100

// serverCPU returns a function reading the CPU time used so far by the PostgreSQL server db
// talks to, when it runs on this machine and its data directory is readable: its postmaster,
// the postmaster's live children (backends, WAL writer, checkpointer, …) and the children it
// has reaped (backends that exited). Other sessions' queries on the same server are counted
// too. It returns nil when the server's processes cannot be read (another host, SQLite).
func serverCPU(ctx context.Context, db *store.DB) func() time.Duration {
	if db.Dialect() != store.Postgres {
		return nil
	}
	var dir string
	if err := db.QueryRowContext(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil
	}
	if _, ok := procStat(pid); !ok {
		return nil
	}
	return func() time.Duration {
		f, _ := procStat(pid)
		ticks := f[14] + f[15] + f[16] + f[17] // its own time and its reaped children's
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			child, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if c, ok := procStat(child); ok && c[4] == int64(pid) {
				ticks += c[14] + c[15]
			}
		}
		return time.Duration(ticks) * time.Second / clockTicks
	}
}

// procStat reads /proc/PID/stat into its numeric fields, numbered as in proc(5) (4 is the
// parent's pid, 14-17 utime, stime, cutime, cstime); fields 1-3 are left zero.
func procStat(pid int) (map[int]int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	out := map[int]int64{}
	for n, f := range strings.Fields(s[i+1:]) {
		if v, err := strconv.ParseInt(f, 10, 64); err == nil {
			out[n+3] = v
		}
	}
	return out, len(out) > 15
}
