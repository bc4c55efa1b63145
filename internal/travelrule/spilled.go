package travelrule

import "sync"

// spilledItems keeps, by record id, the item of each callback this process appended to the
// spool, until the replay stored it: the replay takes the record from it instead of reading
// the file back and opening the sealed body to decode it, and stores the body as toSpool
// sealed it (or the decode and seal made on arrival, for a callback spooled after waiting for
// the database). It is only a shortcut: a record missing from it (spooled by a previous
// process, or past the bounds) is read from the file. It holds at most spillMax items and
// spillMaxBytes of bodies (plain and sealed), the spill's own bounds, so that a burst
// absorbed by the spool is replayed from memory whole; while the database is down the spool
// may grow past them, and what does not fit is read back from the file.
type spilledItems struct {
	mu    sync.Mutex
	by    map[string]item
	bytes int
}

func itemBytes(it item) int { return len(it.rec.Body) + len(it.sealed) }

// put keeps it if there is room, and says whether it did.
func (c *spilledItems) put(it item) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.by) >= spillMax || c.bytes+itemBytes(it) > spillMaxBytes {
		return false
	}
	if c.by == nil {
		c.by = map[string]item{}
	}
	if _, ok := c.by[it.rec.ID]; !ok {
		c.bytes += itemBytes(it)
	}
	c.by[it.rec.ID] = it
	return true
}

// has says whether the item of record id is kept.
func (c *spilledItems) has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.by[id]
	return ok
}

// get returns the item of record id, if kept.
func (c *spilledItems) get(id string) (item, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.by[id]
	return it, ok
}

// drop forgets the items of records ids (stored, or never appended).
func (c *spilledItems) drop(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if it, ok := c.by[id]; ok {
			c.bytes -= itemBytes(it)
			delete(c.by, id)
		}
	}
}
