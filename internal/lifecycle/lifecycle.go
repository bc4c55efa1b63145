// Package lifecycle runs vaspgate's long-lived components under one errgroup and stops them
// in a fixed order. Every component has one shape, Run(ctx) error: it works until ctx ends,
// then finishes its in-flight work and returns. The order matters because each stage feeds
// the next: requests enqueue jobs and record callbacks, jobs record callbacks, so the
// listeners stop first and the delivery engine last, and nothing is left half done when the
// database closes after Run returns.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// A Component is one long-lived part (a server, a worker pool, an engine).
type Component struct {
	// Name prefixes the component's error.
	Name string
	// Run works until ctx ends, then finishes in-flight work (bounded by the component's own
	// timeouts) and returns nil; an error before that stops every component.
	Run func(ctx context.Context) error
}

// A Stage is components that stop together.
type Stage []Component

// Run starts every component at once and returns when all have returned. When ctx ends, or
// a component fails, the stages stop in the order given: a stage's context ends only once
// every component of the stage before it has returned. It returns the first failure.
func Run(ctx context.Context, stages ...Stage) error {
	g, failed := errgroup.WithContext(ctx)
	stops := make([]context.CancelFunc, len(stages))
	dones := make([]chan struct{}, len(stages))
	var all sync.WaitGroup
	for i, stage := range stages {
		// Values (loggers, trace ids) carry over; cancellation is the conductor's alone.
		stageCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		stops[i], dones[i] = stop, make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range stage {
			wg.Add(1)
			all.Add(1)
			g.Go(func() error {
				defer all.Done()
				defer wg.Done()
				err := c.Run(stageCtx)
				if err == nil || (stageCtx.Err() != nil && errors.Is(err, context.Canceled)) {
					return nil
				}
				return fmt.Errorf("%s: %w", c.Name, err)
			})
		}
		go func() { wg.Wait(); close(dones[i]) }()
	}
	finished := make(chan struct{})
	go func() { all.Wait(); close(finished) }()
	// The conductor: on the signal to stop, each stage in turn.
	g.Go(func() error {
		select {
		case <-failed.Done():
		case <-finished:
		}
		for i := range stages {
			stops[i]()
			<-dones[i]
		}
		return nil
	})
	return g.Wait()
}
