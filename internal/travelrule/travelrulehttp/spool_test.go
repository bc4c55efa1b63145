package travelrulehttp_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/store/storetest"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
)

// outage makes the database unavailable and brings it back, for real: PostgreSQL is reached
// through a TCP proxy that is shut (connections cut, new ones refused); SQLite's file is held
// under an exclusive lock by another connection, so every write waits and fails.
type outage interface {
	stop(t *testing.T)
	start(t *testing.T)
}

// pgProxy forwards a local port to the PostgreSQL server.
type pgProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	p := &pgProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.start(t)
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *pgProxy) start(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
			go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
		}
	}()
}

func (p *pgProxy) stop(*testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

type sqliteLock struct {
	url  string
	db   *sql.DB
	conn *sql.Conn
}

func (l *sqliteLock) stop(t *testing.T) {
	_, dsn, err := store.ParseURL(l.url)
	if err != nil {
		t.Fatal(err)
	}
	if l.db, err = sql.Open("sqlite", dsn); err != nil {
		t.Fatal(err)
	}
	if l.conn, err = l.db.Conn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("lock sqlite: %v", err)
	}
}

func (l *sqliteLock) start(t *testing.T) {
	if _, err := l.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatalf("unlock sqlite: %v", err)
	}
	l.conn.Close()
	l.db.Close()
}

// openWithOutage opens a fresh, migrated database of each engine together with its outage.
func openWithOutage(t *testing.T, d store.Dialect) (*store.DB, outage) {
	u := storetest.URL(t, d)
	var o outage
	if d == store.Postgres {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p := newPGProxy(t, pu.Host)
		pu.Host = p.addr
		u, o = pu.String(), p
	} else {
		o = &sqliteLock{url: u}
	}
	db, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, o
}

// TestSpoolKeepsEverythingWhileTheDatabaseIsDown stops the database, posts callbacks (all
// acknowledged in time), restarts it, and checks that every one arrives, once.
func TestSpoolKeepsEverythingWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			db, o := openWithOutage(t, d)
			b := setup(t, db, setupOpts{budget: 100 * time.Millisecond})
			b.mustAck(t, fixture(t, "tx_report.json"))
			b.waitProcessed(t, "64ab871b-14a3-47df-9b80-368e29fe8181", 1)

			o.stop(t)
			const n = 20
			uuids := make([]string, n)
			for i := range n {
				uuids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", 500+i)
			}
			body := func(i int) []byte {
				return fmt.Appendf(nil, `{"callbackType":"VERIFICATION_RESULT","data":{"verificationUuid":%q,"verificationResult":"VERIFIED","reason":"OK"}}`, uuids[i])
			}
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 2 { // every callback twice: the copy must count as a duplicate
						start := time.Now()
						b.mustAck(t, body(i))
						if took := time.Since(start); took > time.Second {
							t.Errorf("acknowledged after %v, over the enclave's 1 s", took)
						}
					}
				}()
			}
			wg.Wait()
			if !b.svc.SpoolPending() {
				t.Fatal("database down but nothing in the spool")
			}
			o.start(t)
			wait.For(t, "spool replayed", func() bool { return !b.svc.SpoolPending() })
			for i := range n {
				v := b.waitProcessed(t, uuids[i], 1)
				if v.Status != "VERIFIED" || v.Callbacks[0].Duplicates != 1 {
					t.Fatalf("%s: status %s, duplicates %d", uuids[i], v.Status, v.Callbacks[0].Duplicates)
				}
			}
			if got := b.count(t, "SELECT COUNT(*) FROM travel_rule_inbox WHERE verification_uuid LIKE ?", "00000000-0000-4000-8000-%"); got != n {
				t.Fatalf("%d callbacks stored, want %d", got, n)
			}
		})
	}
}
