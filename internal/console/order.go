package console

import (
	"html/template"
	"net/url"
	"slices"
	"strings"
)

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

// listOrder is a list page's order — the column (?sort=, "" for creation) and the
// direction (?order=: "desc" or "newest", "asc" or "oldest"; the page's default when
// absent) — and the page's filters, which every column header's and pager's link carries,
// so that a link can be shared.
type listOrder struct {
	path string
	// Sort is the column ("" is creation); Asc the direction.
	Sort string
	Asc  bool
	// defaultAsc is the page's direction without ?order= (every column's first click).
	defaultAsc bool
	// sorts are the columns besides creation the list can be sorted by.
	sorts []string
	keep  url.Values
}

// Newest first is the default of every list but the customers' (a queue of decisions,
// worked oldest first).
const (
	descFirst = false
	ascFirst  = true
)

// readOrder reads the order of the list page at path, whose columns besides creation are
// sorts, listed in direction first unless ?order= says otherwise; keep are the page's
// filters as name, value pairs (empty values left out). A sort or order the page does not
// offer is refused with the message to show.
func readOrder(q url.Values, path string, first bool, sorts []string, keep ...string) (listOrder, string) {
	o := listOrder{path: path, Sort: q.Get("sort"), Asc: first, defaultAsc: first, sorts: sorts, keep: url.Values{}}
	for i := 0; i+1 < len(keep); i += 2 {
		if keep[i+1] != "" {
			o.keep.Set(keep[i], keep[i+1])
		}
	}
	if o.Sort != "" && !slices.Contains(sorts, o.Sort) {
		if len(sorts) == 0 {
			return o, "This list is sorted by creation only."
		}
		return o, "Sort must be one of: " + strings.Join(sorts, ", ") + " (or nothing, by creation)."
	}
	switch q.Get("order") {
	case "":
	case "newest", "desc":
		o.Asc = false
	case "asc", orderOldest:
		o.Asc = true
	default:
		return o, "Order must be asc or desc (newest or oldest)."
	}
	return o, ""
}

// values is the order's query (plus extra name, value pairs).
func (o listOrder) values(sort string, asc bool, extra ...string) url.Values {
	v := url.Values{}
	for k, vs := range o.keep {
		v[k] = vs
	}
	if sort != "" {
		v.Set("sort", sort)
	}
	switch {
	case asc == o.defaultAsc:
	case asc && sort == "":
		v.Set("order", orderOldest)
	case asc:
		v.Set("order", "asc")
	case sort == "":
		v.Set("order", "newest")
	default:
		v.Set("order", "desc")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func (o listOrder) url(v url.Values) template.URL {
	if len(v) == 0 {
		return template.URL(o.path)
	}
	return template.URL(o.path + "?" + v.Encode())
}

// Sortable reports whether the list can be sorted by col ("" is creation, always), so a
// template shows that column's header as a link (or as plain text when it cannot).
func (o listOrder) Sortable(col string) bool {
	return col == "" || slices.Contains(o.sorts, col)
}

// Link is a column header's link: that column in the page's default direction, or the
// current column the other way round.
func (o listOrder) Link(col string) template.URL {
	asc := o.defaultAsc
	if col == o.Sort {
		asc = !o.Asc
	}
	return o.url(o.values(col, asc))
}

// Aria is the header's aria-sort value.
func (o listOrder) Aria(col string) string {
	switch {
	case col != o.Sort:
		return "none"
	case o.Asc:
		return "ascending"
	}
	return "descending"
}

// Arrow shows the direction on the current column's header.
func (o listOrder) Arrow(col string) string {
	switch {
	case col != o.Sort:
		return ""
	case o.Asc && col == "":
		return "↑ oldest first"
	case col == "":
		return "↓ newest first"
	case o.Asc:
		return "↑"
	}
	return "↓"
}

// Next is the pager's link to the page after cursor (query parameter param).
func (o listOrder) Next(param, cursor string) template.URL {
	return o.url(o.values(o.Sort, o.Asc, param, cursor))
}

// Hidden are the sort and order as a filter form's hidden fields, so that searching keeps
// the order.
func (o listOrder) Hidden() template.HTML {
	var b strings.Builder
	v := o.values(o.Sort, o.Asc)
	for _, k := range []string{"sort", "order"} {
		if v.Get(k) != "" {
			b.WriteString(`<input type="hidden" name="` + k + `" value="` + template.HTMLEscapeString(v.Get(k)) + `">`)
		}
	}
	return template.HTML(b.String())
}
