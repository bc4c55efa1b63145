package callbackbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The measuring half of a run, the same whoever delivers: the producers that publish N
// events over M subjects, the loopback receivers that check each request's signature and
// acknowledge it, and the tracker that turns acknowledgements into the Result's figures.
// Run drives vaspgate's engine through it; RunPeer drives another delivery service.

// pending is one event on its way to being recorded or published.
type pending struct {
	i       int
	dest    string // where it goes: a receiver's URL, or the peer's destination id
	subject string
	body    []byte
}

// eventBody is the payload of event i, the n-th of subject s: the receivers read i, s and n
// back from it, so a peer that forwards the payload unchanged can be checked for order.
// It is padded to size bytes when size leaves room for the padding field.
func eventBody(i, s, n, size int) []byte {
	b := fmt.Appendf(nil, `{"i":%d,"s":%d,"n":%d`, i, s, n)
	if pad := size - len(b) - len(`,"pad":""}`); pad > 0 {
		b = append(b, `,"pad":"`...)
		for range pad {
			b = append(b, 'x')
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// produce publishes the run's events through recordMany, batch at a time, from o.Producers
// goroutines at o.Rate (0: as fast as they can), noting each event's acceptance in tr.
// dests[s%len(dests)] is where subject s's events go.
func produce(ctx context.Context, o Options, tr *tracker, dests []string, batch int, recordMany func(context.Context, []pending) error) error {
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Second * time.Duration(o.Producers) / time.Duration(o.Rate)
	}
	var wg sync.WaitGroup
	errCh := make(chan error, o.Producers)
	for p := range o.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			var evs []pending
			flush := func() bool {
				if len(evs) == 0 {
					return true
				}
				if err := recordMany(ctx, evs); err != nil {
					errCh <- err
					return false
				}
				at := time.Now()
				for _, e := range evs {
					tr.committed(e.i, at)
				}
				evs = evs[:0]
				return true
			}
			// Producer p owns the subjects s with s % Producers == p, so each subject's
			// events are published in order.
			for i := 0; i < o.Events; i++ {
				s := i % o.Subjects
				if s%o.Producers != p {
					continue
				}
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d) // pacing the offered load, not synchronisation
					}
					next = next.Add(interval)
				}
				n := i/o.Subjects + 1
				evs = append(evs, pending{i, dests[s%len(dests)], "subject-" + strconv.Itoa(s), eventBody(i, s, n, o.PayloadBytes)})
				if len(evs) >= batch && !flush() {
					return
				}
			}
			flush()
		}()
	}
	wg.Wait()
	select {
	case err := <-errCh:
		return fmt.Errorf("bench: record: %w", err)
	default:
		return nil
	}
}

// receivers are the loopback endpoints deliveries go to.
type receivers struct {
	lns                      []net.Listener
	srvs                     []*http.Server
	requests, failed, badSig atomic.Int64
}

// listenReceivers opens k loopback listeners; serve starts answering on them. The two are
// apart so that a peer's destinations can be made for the addresses (and their signing
// secrets learnt) before the first request is checked.
func listenReceivers(k int) (*receivers, error) {
	r := &receivers{}
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.close()
			return nil, fmt.Errorf("bench: receiver: %w", err)
		}
		r.lns = append(r.lns, ln)
	}
	return r, nil
}

// urls are the receivers' URLs with path.
func (r *receivers) urls(path string) []string {
	var us []string
	for _, ln := range r.lns {
		us = append(us, "http://"+ln.Addr().String()+path)
	}
	return us
}

// serve answers every request: 401 when check refuses its signature (host is the
// receiver's host:port), 503 for a failShare of the rest, otherwise 204 after tr took the
// acknowledgement.
func (r *receivers) serve(failShare float64, tr *tracker, check func(host string, h http.Header, body []byte) bool) {
	for _, ln := range r.lns {
		host := ln.Addr().String()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			now := time.Now()
			r.requests.Add(1)
			if !check(host, req.Header, body) {
				r.badSig.Add(1)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if failShare > 0 && rand.Float64() < failShare {
				r.failed.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			tr.ack(body, now)
			w.WriteHeader(http.StatusNoContent)
		})}
		r.srvs = append(r.srvs, srv)
		go func() { _ = srv.Serve(ln) }()
	}
}

func (r *receivers) close() {
	for _, s := range r.srvs {
		_ = s.Close()
	}
	for _, ln := range r.lns {
		_ = ln.Close()
	}
}

type event struct {
	committed time.Time
	received  time.Time
	acks      int
}

// tracker keeps what the receivers acknowledged, per event and per subject.
type tracker struct {
	mu         sync.Mutex
	events     []event
	last       []int // per subject: highest n acknowledged
	outOfOrder int
	acked      int
	done       chan struct{}
}

func newTracker(events, subjects int) *tracker {
	return &tracker{events: make([]event, events), last: make([]int, subjects), done: make(chan struct{})}
}

// committed notes that event i was recorded (or its publish accepted) at at.
func (t *tracker) committed(i int, at time.Time) {
	t.mu.Lock()
	t.events[i].committed = at
	t.mu.Unlock()
}

// ack takes a receipt. An event acknowledged while a later one of its subject already was
// is out of order (counted once, when the later one overtakes it); one acknowledged again
// is a duplicate.
func (t *tracker) ack(body []byte, at time.Time) {
	var m struct{ I, S, N int }
	if json.Unmarshal(body, &m) != nil || m.I < 0 || m.I >= len(t.events) || m.S < 0 || m.S >= len(t.last) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &t.events[m.I]
	switch {
	case m.N == t.last[m.S]+1:
		t.last[m.S] = m.N
	case m.N <= t.last[m.S]:
		// A repeat of something acknowledged (counted through acks), or an event that was
		// overtaken (counted when it was).
	default:
		t.outOfOrder++
		t.last[m.S] = m.N
	}
	if e.acks == 0 {
		e.received = at
		t.acked++
		if t.acked == len(t.events) {
			close(t.done)
		}
	}
	e.acks++
}

// wait returns when every event was acknowledged, after timeout, or when ctx ends.
func (t *tracker) wait(ctx context.Context, timeout time.Duration) {
	select {
	case <-t.done:
	case <-time.After(timeout):
	case <-ctx.Done():
	}
}

// fill sets res's delivery figures: lost, duplicated, out of order, latency (committed →
// first receipt) and deliveries/s from start to the last first receipt.
func (t *tracker) fill(res *Result, start time.Time) {
	elapsed := time.Since(start)
	t.mu.Lock()
	defer t.mu.Unlock()
	var lat []time.Duration
	var lastReceipt time.Time
	for _, e := range t.events {
		if e.acks == 0 {
			res.Lost++
			continue
		}
		res.Duplicated += e.acks - 1
		lat = append(lat, max(0, e.received.Sub(e.committed)))
		if e.received.After(lastReceipt) {
			lastReceipt = e.received
		}
	}
	res.OutOfOrder = t.outOfOrder
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50Millis = ms(lat[len(lat)/2])
		res.P99Millis = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		res.MaxMillis = ms(lat[len(lat)-1])
	}
	if !lastReceipt.IsZero() {
		elapsed = lastReceipt.Sub(start)
	}
	res.Seconds = elapsed.Seconds()
	res.PerSecond = float64(t.acked) / elapsed.Seconds()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
