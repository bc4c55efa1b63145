package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/vaspgate/vaspgate/internal/lifecycle"
)

// recorder notes the order in which components finish.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) component(name string, started *sync.WaitGroup) lifecycle.Component {
	started.Add(1)
	return lifecycle.Component{Name: name, Run: func(ctx context.Context) error {
		started.Done()
		<-ctx.Done()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.order = append(r.order, name)
		return nil
	}}
}

func TestRun(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		fail    bool // a component of the middle stage fails instead of the context ending
		wantErr error
	}{
		{name: "context ends", wantErr: nil},
		{name: "a component fails", fail: true, wantErr: boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var r recorder
			var started sync.WaitGroup
			failNow := make(chan struct{})
			middle := lifecycle.Stage{r.component("workers", &started), {Name: "failing", Run: func(ctx context.Context) error {
				select {
				case <-failNow:
					return boom
				case <-ctx.Done():
					return ctx.Err() // a cancellation on stop is no failure
				}
			}}, {Name: "disabled", Run: func(context.Context) error { return nil }}}
			done := make(chan error, 1)
			go func() {
				done <- lifecycle.Run(ctx, lifecycle.Stage{r.component("listeners", &started)}, middle,
					lifecycle.Stage{r.component("delivery", &started)})
			}()
			started.Wait()
			if tc.fail {
				close(failNow)
			} else {
				cancel()
			}
			err := <-done
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if want := []string{"listeners", "workers", "delivery"}; !slices.Equal(r.order, want) {
				t.Fatalf("stopped in order %v, want %v", r.order, want)
			}
		})
	}
}
