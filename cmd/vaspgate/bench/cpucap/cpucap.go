// Package cpucap limits processes to a share of the machine's cores with a Linux control
// group, as a container's CPU limit does (Kubernetes' resources.limits.cpu is the same
// quota), so that the load tools can run several vaspgate instances on one machine as if
// each had cores of its own. It writes the cgroup file system directly: version 2
// (cpu.max) where its cpu controller is enabled, else version 1's cpu hierarchy
// (cpu.cfs_quota_us). Making a group needs the right to write there, usually root.
package cpucap

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// period is the quota's accounting period: a group may run cores×period of CPU time in
// each period, then waits for the next. A tenth of the kernel's default (100 ms) spreads
// the quota out, so that a limited engine runs like one on a slower machine rather than
// freezing for most of every 100 ms while it holds leases and row locks that the other
// instances then wait for.
const period = 10 * time.Millisecond

// Roots of the two cgroup layouts.
const (
	rootV2 = "/sys/fs/cgroup"
	rootV1 = "/sys/fs/cgroup/cpu"
)

// Group is one control group with a CPU quota.
type Group struct {
	dir string
	v2  bool
}

// New makes the control group name (a single path element) with a quota of cores CPUs.
func New(name string, cores float64) (*Group, error) {
	if cores <= 0 {
		return nil, fmt.Errorf("cpucap: %v cores: the limit must be above 0", cores)
	}
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return nil, fmt.Errorf("cpucap: %q is not a group name", name)
	}
	quota := int64(cores * float64(period/time.Microsecond))
	if quota < 1000 { // the kernel's smallest quota: 1 ms per period
		return nil, fmt.Errorf("cpucap: %v cores is below the smallest quota (%v)", cores, float64(time.Millisecond)/float64(period))
	}
	g, err := open(name)
	if err != nil {
		return nil, err
	}
	if g.v2 {
		err = write(g.dir, "cpu.max", fmt.Sprintf("%d %d", quota, period/time.Microsecond))
	} else {
		err = write(g.dir, "cpu.cfs_period_us", strconv.FormatInt(int64(period/time.Microsecond), 10))
		if err == nil {
			err = write(g.dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
		}
	}
	if err != nil {
		_ = os.Remove(g.dir)
		return nil, err
	}
	return g, nil
}

// open makes the group's directory in the layout whose cpu controller this machine has.
func open(name string) (*Group, error) {
	if ctl, err := os.ReadFile(filepath.Join(rootV2, "cgroup.controllers")); err == nil && hasWord(string(ctl), "cpu") {
		// Version 2 gives a child the cpu controller only if its parent delegates it.
		sub, _ := os.ReadFile(filepath.Join(rootV2, "cgroup.subtree_control"))
		if !hasWord(string(sub), "cpu") {
			if err := write(rootV2, "cgroup.subtree_control", "+cpu"); err != nil {
				return nil, err
			}
		}
		dir := filepath.Join(rootV2, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cpucap: %w", err)
		}
		return &Group{dir: dir, v2: true}, nil
	}
	if _, err := os.Stat(filepath.Join(rootV1, "cpu.cfs_quota_us")); err != nil {
		return nil, errors.New("cpucap: this machine has no cgroup cpu controller (neither " + rootV2 + "/cgroup.controllers with cpu nor " + rootV1 + ")")
	}
	dir := filepath.Join(rootV1, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cpucap: %w", err)
	}
	return &Group{dir: dir}, nil
}

// Add moves process pid, and the threads it starts from then on, into the group.
func (g *Group) Add(pid int) error {
	return write(g.dir, "cgroup.procs", strconv.Itoa(pid))
}

// Stat is what the group's quota did.
type Stat struct {
	Periods   int64 // accounting periods in which the group ran
	Throttled int64 // of those, periods in which it used its quota and had to wait
}

// Stat reads the group's counters.
func (g *Group) Stat() (Stat, error) {
	f, err := os.Open(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return Stat{}, fmt.Errorf("cpucap: %w", err)
	}
	defer f.Close()
	var s Stat
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_periods":
			s.Periods = n
		case "nr_throttled":
			s.Throttled = n
		}
	}
	return s, sc.Err()
}

// Close removes the group; its processes must have ended.
func (g *Group) Close() error {
	if err := os.Remove(g.dir); err != nil {
		return fmt.Errorf("cpucap: %w", err)
	}
	return nil
}

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cpucap: %w", err)
	}
	return nil
}

func hasWord(s, w string) bool { return slices.Contains(strings.Fields(s), w) }
