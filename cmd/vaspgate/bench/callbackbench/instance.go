package callbackbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspgate/vaspgate/cmd/vaspgate/bench/cpucap"
	"github.com/vaspgate/vaspgate/internal/callback"
	"github.com/vaspgate/vaspgate/internal/store"
)

// Instances as processes (Options.InstanceCPU): the run starts each engine as a process of
// its own, `vaspgate bench delivery-instance`, in a control group that limits it to
// InstanceCPU cores, and talks to it over its standard input and output:
//
//	parent → instance: one line of JSON, the instanceSpec
//	instance → parent: "ready", once its engine is built
//	parent → instance: "run", to start delivering
//	parent closes the instance's input: it stops, finishing what it has in flight
//
// so that a preload happens before any instance delivers, as in process, and an instance
// whose parent dies stops with it.

// instanceSpec is what an instance process is told: the engine it builds is the one Run
// builds in process for the same options.
type instanceSpec struct {
	DatabaseURL  string                 `json:"database_url"`
	Name         string                 `json:"name"`
	Workers      int                    `json:"workers"`
	Destinations []callback.Destination `json:"destinations,omitempty"`
}

// RunInstance is an instance process of a run with Options.InstanceCPU (`vaspgate bench
// delivery-instance`): it reads its spec from in, builds its engine, says "ready" on out,
// delivers from the "run" line on, and stops when in ends.
func RunInstance(ctx context.Context, in io.Reader, out io.Writer) error {
	lines := bufio.NewScanner(in)
	lines.Buffer(nil, 1<<20)
	if !lines.Scan() {
		return errors.New("bench instance: no spec on standard input")
	}
	var spec instanceSpec
	if err := json.Unmarshal(lines.Bytes(), &spec); err != nil {
		return fmt.Errorf("bench instance: spec: %w", err)
	}
	db, err := store.Open(ctx, spec.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	e, closePool, err := deliveryEngine(ctx, db, spec.DatabaseURL, engineConfig(spec.Workers, spec.Destinations), spec.Name)
	if err != nil {
		return err
	}
	defer closePool()
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	if !lines.Scan() {
		return lines.Err() // told to stop before it ran
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for lines.Scan() {
		}
		stop()
	}()
	if err := e.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// instanceProcs are a run's instance processes and their control groups.
type instanceProcs struct {
	procs  []*instanceProc
	cores  float64
	closed sync.Once
}

type instanceProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	group *cpucap.Group
}

// startInstances starts o.Instances instance processes of o.Program, each in a control
// group of o.InstanceCPU cores, and returns once every one has built its engine.
func startInstances(ctx context.Context, o Options, dbURL string, destinations []callback.Destination) (*instanceProcs, error) {
	ps := &instanceProcs{cores: o.InstanceCPU}
	for i := range max(1, o.Instances) {
		p, err := startInstance(ctx, o, instanceSpec{DatabaseURL: dbURL, Name: fmt.Sprintf("bench-%d", i), Workers: o.Workers, Destinations: destinations})
		if err != nil {
			ps.kill()
			return nil, fmt.Errorf("bench instance %d: %w", i, err)
		}
		ps.procs = append(ps.procs, p)
	}
	return ps, nil
}

// groupSeq numbers the control groups this process makes: runs may overlap (tests do).
var groupSeq atomic.Int64

func startInstance(ctx context.Context, o Options, spec instanceSpec) (*instanceProc, error) {
	g, err := cpucap.New(fmt.Sprintf("vaspgate-bench-%d-%d", os.Getpid(), groupSeq.Add(1)), o.InstanceCPU)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Program, "bench", "delivery-instance")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		_ = g.Close()
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = g.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = g.Close()
		return nil, err
	}
	p := &instanceProc{cmd: cmd, in: in, group: g}
	// Moved before it is told what to do: all it runs before this is the program's start.
	if err := g.Add(cmd.Process.Pid); err != nil {
		p.kill()
		return nil, err
	}
	b, _ := json.Marshal(spec)
	if _, err := fmt.Fprintf(in, "%s\n", b); err != nil {
		p.kill()
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case ok := <-ready:
		if !ok {
			p.kill()
			return nil, errors.New("it ended before its engine was ready (its standard error says why)")
		}
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		p.kill()
		return nil, errors.New("its engine was not ready within a minute")
	}
	return p, nil
}

// run tells every instance to start delivering.
func (ps *instanceProcs) run() {
	for _, p := range ps.procs {
		_, _ = io.WriteString(p.in, "run\n")
	}
}

// stop ends every instance, waiting for each to finish what it has in flight, and notes
// their CPU in r.
func (ps *instanceProcs) stop(r *Result) error {
	var errs []error
	ps.closed.Do(func() {
		for _, p := range ps.procs {
			_ = p.in.Close()
		}
		var cpu time.Duration
		var st cpucap.Stat
		for i, p := range ps.procs {
			if err := p.cmd.Wait(); err != nil {
				errs = append(errs, fmt.Errorf("bench instance %d: %w", i, err))
			}
			if state := p.cmd.ProcessState; state != nil { // nil only if it could not be waited for
				cpu += state.UserTime() + state.SystemTime()
			}
			s, err := p.group.Stat()
			errs = append(errs, err, p.group.Close())
			st.Periods += s.Periods
			st.Throttled += s.Throttled
		}
		r.InstanceCPU = ps.cores
		r.InstanceCPUMillis = float64(cpu.Microseconds()) / 1000 / float64(r.Events)
		if st.Periods > 0 {
			r.InstanceThrottled = float64(st.Throttled) / float64(st.Periods)
		}
	})
	return errors.Join(errs...)
}

// kill ends every instance at once, for a run that failed.
func (ps *instanceProcs) kill() {
	ps.closed.Do(func() {
		for _, p := range ps.procs {
			p.kill()
		}
	})
}

func (p *instanceProc) kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	_ = p.group.Close()
}
