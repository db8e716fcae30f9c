package pilot

import (
	"errors"
	"slices"
	"testing"
)

func TestCollect(t *testing.T) {
	t.Parallel()
	// pages is a listing of 1..7, three to a page, whose cursor is the
	// last item of a page (0 on the last page).
	pages := func(after int) ([]int, int, error) {
		var page []int
		for i := after + 1; i <= 7 && len(page) < 3; i++ {
			page = append(page, i)
		}
		next := 0
		if len(page) > 0 && page[len(page)-1] < 7 {
			next = page[len(page)-1]
		}
		return page, next, nil
	}
	for _, tc := range []struct {
		name     string
		after    int
		one      bool
		fetch    func(int) ([]int, int, error)
		want     []int
		wantNext int
		wantErr  bool
	}{
		{name: "every page", fetch: pages, want: []int{1, 2, 3, 4, 5, 6, 7}},
		{name: "from a cursor", after: 2, fetch: pages, want: []int{3, 4, 5, 6, 7}},
		{name: "one page", one: true, fetch: pages, want: []int{1, 2, 3}, wantNext: 3},
		{name: "the last page", after: 6, one: true, fetch: pages, want: []int{7}},
		{name: "nothing", after: 7, fetch: pages, want: []int{}},
		{name: "a cursor that does not advance", fetch: func(after int) ([]int, int, error) {
			return []int{after + 1}, after, nil
		}, want: []int{1}},
		{name: "an error", fetch: func(after int) ([]int, int, error) {
			if after > 0 {
				return nil, 0, errors.New("boom")
			}
			return pages(after)
		}, want: []int{1, 2, 3}, wantErr: true},
	} {
		got, next, err := collect(tc.after, tc.one, tc.fetch)
		if !slices.Equal(got, tc.want) || got == nil || next != tc.wantNext || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v, next %d, %v; want %v, next %d", tc.name, got, next, err, tc.want, tc.wantNext)
		}
	}
	// String cursors, as secret list has.
	got, _, err := collect("", false, func(after string) ([]string, string, error) {
		switch after {
		case "":
			return []string{"a", "b"}, "b", nil
		case "b":
			return []string{"c"}, "", nil
		}
		return nil, "", errors.New("asked after " + after)
	})
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("string cursors: %v, %v", got, err)
	}
}
