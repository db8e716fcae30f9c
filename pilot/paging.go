package pilot

import (
	"cmp"

	"github.com/spikeledger/spike/sdk"
)

// pageFlags select a window of a listing. Without --limit every page is
// fetched.
type pageFlags struct {
	After uint64  `name:"after" help:"Only events after this sequence number (the previous page's next)."`
	Limit int     `name:"limit" help:"Print one page of at most this many events (0: every event)."`
	Since timeArg `name:"since" placeholder:"TIME" help:"Only events at or after this time: an RFC 3339 time (2026-12-01T15:04:05Z), a date (2026-12-01, meaning midnight UTC) or a time ago (30m, 1h, 7d)."`
	Until timeArg `name:"until" placeholder:"TIME" help:"Only events before this time, in the same forms as --since."`
}

func (p pageFlags) page() sdk.Page {
	return sdk.Page{After: p.After, Limit: p.Limit, Since: p.Since.ptr(), Until: p.Until.ptr()}
}

// fetchPages runs p's page, or with no --limit every page from p's
// onward, and returns the items and, after one page, the cursor of the
// next (zero on the last).
func fetchPages[T any](p pageFlags, fetch func(sdk.Page) ([]T, uint64, error)) ([]T, uint64, error) {
	page := p.page()
	return collect(page.After, p.Limit > 0, func(after uint64) ([]T, uint64, error) {
		page.After = after
		return fetch(page)
	})
}

// collect gathers a listing page by page: fetch returns the items after
// a cursor and the cursor of the next page, the zero value on the last.
// With one set, it stops after the first page and returns its next
// cursor; otherwise it follows the cursors to the end, stopping too at a
// cursor that does not advance (a server that would loop forever), and
// returns a zero cursor.
func collect[T any, C cmp.Ordered](after C, one bool, fetch func(after C) ([]T, C, error)) ([]T, C, error) {
	var zero C
	items := []T{}
	for {
		page, next, err := fetch(after)
		if err != nil {
			return items, zero, err
		}
		items = append(items, page...)
		switch {
		case one:
			return items, next, nil
		case next == zero || next <= after:
			return items, zero, nil
		}
		after = next
	}
}
