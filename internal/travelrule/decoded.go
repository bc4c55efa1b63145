package travelrule

import "sync"

// decodedCap bounds the callbacks the cache holds: about two seconds of a burst at the rates
// measured on two cores (issue 16). Past it, callbacks are not cached and the fold decodes
// them from their stored bodies, as without the cache.
const decodedCap = 8192

// decodedCache keeps the decode of each callback the group commit stored, by verification
// and inbox id, until the fold that reads it: decoding is deterministic, so the fold uses
// the acknowledgement's decode instead of opening and decoding the stored body again (8-16 %
// of the process's CPU in a burst on PostgreSQL, issue 16). It is only a shortcut: a callback
// missing from it (another process stored it, the cache was full, a failed fold took it) is
// decoded from its body, and refoldAll drops the entries of the verifications it was asked to
// fold, so nothing stays longer than the folder round after its commit.
type decodedCache struct {
	mu sync.Mutex
	n  int
	by map[string]map[string]Decoded // verification uuid -> inbox id -> decode
}

// put keeps the decodes of the items stored as rows (new or revision) and processable.
func (c *decodedCache) put(items []item, outs []Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range outs {
		d := items[i].dec
		if (o != OutcomeNew && o != OutcomeRevision) || d.Problem != ProblemNone || c.n >= decodedCap {
			continue
		}
		if c.by == nil {
			c.by = map[string]map[string]Decoded{}
		}
		m := c.by[d.VerificationUUID]
		if m == nil {
			m = map[string]Decoded{}
			c.by[d.VerificationUUID] = m
		}
		if _, ok := m[items[i].rec.ID]; !ok {
			c.n++
		}
		m[items[i].rec.ID] = d
	}
}

// take removes and returns the decodes held for the verifications ids.
func (c *decodedCache) take(ids []string) map[string]Decoded {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]Decoded
	for _, u := range ids {
		m := c.by[u]
		if m == nil {
			continue
		}
		if out == nil {
			out = map[string]Decoded{}
		}
		for id, d := range m {
			out[id] = d
		}
		c.n -= len(m)
		delete(c.by, u)
	}
	return out
}

// drop removes the decodes held for the verifications ids.
func (c *decodedCache) drop(ids []string) { c.take(ids) }
