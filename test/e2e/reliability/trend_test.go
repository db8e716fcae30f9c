//go:build linux

package reliability

import (
	"fmt"
	"math"
	"testing"
)

// trend is a least-squares line through a series after its warm-up.
type trend struct {
	Slope float64 // units per second
	Mean  float64
	// Projected is the growth the slope amounts to over the window
	// fitted: Slope times the window's length.
	Projected float64
}

// fitTrend fits y = a + b·x by least squares to the points from the
// first x at or after warmup on. It needs two distinct x.
func fitTrend(xs, ys []float64, warmup float64) (trend, error) {
	var n, sx, sy float64
	first, last := math.Inf(1), math.Inf(-1)
	for i, x := range xs {
		if x < warmup {
			continue
		}
		n++
		sx += x
		sy += ys[i]
		first, last = min(first, x), max(last, x)
	}
	if n < 2 || first == last {
		return trend{}, fmt.Errorf("%v points after the warm-up: too few to fit", n)
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i, x := range xs {
		if x < warmup {
			continue
		}
		sxy += (x - mx) * (ys[i] - my)
		sxx += (x - mx) * (x - mx)
	}
	b := sxy / sxx
	return trend{Slope: b, Mean: my, Projected: b * (last - first)}, nil
}

// trends fits the window after the warm-up, and its second half alone
// with the growth projected over the whole window, so that the two
// compare.
func trends(xs, ys []float64, warmup float64) (whole, late trend, err error) {
	if whole, err = fitTrend(xs, ys, warmup); err != nil {
		return whole, late, err
	}
	first, last := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if x >= warmup {
			first, last = min(first, x), max(last, x)
		}
	}
	if late, err = fitTrend(xs, ys, first+(last-first)/2); err != nil {
		return whole, late, err
	}
	late.Projected = late.Slope * (last - first)
	return whole, late, nil
}

// growth is the criterion for a leak: the fitted line rises, over the
// window after the warm-up, by more than a tenth of the mean and by more
// than an absolute floor, and the window's second half alone rises as
// steeply. The relative bound ignores noise in a large quantity; the
// floor ignores a few extra units of a small one (a goroutine or file
// more at the end than at the start is no leak); the second half tells a
// leak, which goes on growing, from caches and pools that are still
// filling after the warm-up and level off.
type growth struct {
	Relative float64 // of the mean, e.g. 0.10
	Floor    float64 // in the series' units
}

// excessive reports whether tr shows growth beyond g.
func (g growth) excessive(tr trend) bool {
	return tr.Projected > g.Relative*tr.Mean && tr.Projected > g.Floor
}

// leaks reports whether the whole window and its second half both show
// growth beyond g.
func (g growth) leaks(whole, late trend) bool { return g.excessive(whole) && g.excessive(late) }

func TestFitTrend(t *testing.T) {
	t.Parallel()
	line := func(a, b float64, n int) ([]float64, []float64) {
		xs, ys := make([]float64, n), make([]float64, n)
		for i := range n {
			xs[i], ys[i] = float64(i), a+b*float64(i)
		}
		return xs, ys
	}
	flatX, flatY := line(100, 0, 100)
	riseX, riseY := line(100, 0.5, 100)
	// A step during the warm-up, flat after: no trend.
	stepX, stepY := line(100, 0, 100)
	for i := range 20 {
		stepY[i] = 10
	}
	// Saw-tooth (a garbage-collected heap): flat on average.
	sawX, sawY := line(0, 0, 100)
	for i := range sawY {
		sawY[i] = 100 + float64(i%10)
	}
	tests := []struct {
		name      string
		xs, ys    []float64
		warmup    float64
		slope     float64
		projected float64
	}{
		{"flat", flatX, flatY, 20, 0, 0},
		{"rising", riseX, riseY, 20, 0.5, 0.5 * 79},
		{"step in the warm-up", stepX, stepY, 20, 0, 0},
		{"saw-tooth", sawX, sawY, 20, 0.0155, 1.222},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := fitTrend(tt.xs, tt.ys, tt.warmup)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(tr.Slope-tt.slope) > 0.001 || math.Abs(tr.Projected-tt.projected) > 0.01 {
				t.Errorf("slope %.4f projected %.3f, want %.4f and %.3f", tr.Slope, tr.Projected, tt.slope, tt.projected)
			}
		})
	}
	if _, err := fitTrend([]float64{1, 2, 3}, []float64{1, 2, 3}, 3); err == nil {
		t.Error("a fit of one point after the warm-up: no error")
	}
}

func TestTrendsLeaks(t *testing.T) {
	t.Parallel()
	g := growth{Relative: 0.10, Floor: 5}
	series := func(f func(x float64) float64) ([]float64, []float64) {
		xs, ys := make([]float64, 100), make([]float64, 100)
		for i := range xs {
			xs[i] = float64(i)
			ys[i] = f(xs[i])
		}
		return xs, ys
	}
	tests := []struct {
		name string
		f    func(x float64) float64
		want bool
	}{
		{"flat", func(float64) float64 { return 100 }, false},
		{"steady rise", func(x float64) float64 { return 100 + x }, true},
		{"rise that levels off", func(x float64) float64 { return 100 + min(x, 50) }, false},
		{"flat, then a rise", func(x float64) float64 { return 100 + max(x-50, 0) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			xs, ys := series(tt.f)
			whole, late, err := trends(xs, ys, 20)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.leaks(whole, late); got != tt.want {
				t.Errorf("leaks = %v, want %v (whole %+v, late %+v)", got, tt.want, whole, late)
			}
		})
	}
}

func TestGrowthExcessive(t *testing.T) {
	t.Parallel()
	g := growth{Relative: 0.10, Floor: 5}
	tests := []struct {
		name string
		tr   trend
		want bool
	}{
		{"flat", trend{Mean: 100}, false},
		{"falling", trend{Mean: 100, Projected: -50}, false},
		{"within a tenth", trend{Mean: 100, Projected: 9}, false},
		{"beyond a tenth and the floor", trend{Mean: 100, Projected: 11}, true},
		{"beyond a tenth, under the floor", trend{Mean: 20, Projected: 4}, false},
		{"beyond the floor, under a tenth", trend{Mean: 1000, Projected: 50}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := g.excessive(tt.tr); got != tt.want {
				t.Errorf("excessive(%+v) = %v, want %v", tt.tr, got, tt.want)
			}
		})
	}
}
