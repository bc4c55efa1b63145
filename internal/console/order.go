package console

import "net/url"

// The orders a list page can be sorted in (?order=). Every list's key is its rows' id
// (UUIDv7 or identity: creation order), so both orders are a walk of the same index and
// the keyset cursor simply continues in the page's direction.
const (
	orderNewest = ""
	orderOldest = "oldest"
)

const badOrder = "Order must be newest or oldest."

// sortOrder reads ?order= ("newest" is the default and is written as nothing, so links
// stay short).
func sortOrder(q url.Values) (string, bool) {
	switch o := q.Get("order"); o {
	case "", "newest":
		return orderNewest, true
	case orderOldest:
		return orderOldest, true
	}
	return "", false
}
