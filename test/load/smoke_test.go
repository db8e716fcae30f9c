package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMatrixSmoke runs a short matrix against a development cluster in a
// child process: every client, gets, puts and a mix, then the -versions
// and -policies variants, and checks that the table has every cell, with
// no error and the server's CPU measured. It is short enough for -short;
// it runs the SPIKE SDK, which reads the environment this process sets,
// so it is not parallel.
func TestMatrixSmoke(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		rows int
	}{
		{"every client and mix", []string{"-mix", "get,put,mixed", "-c", "1,3", "-clients", "ours,sdk,sdk-new", "-paths", "20"}, 18},
		{"versions and policies", []string{"-mix", "mixed", "-c", "2", "-clients", "ours,sdk", "-paths", "10", "-versions", "3", "-policies", "4"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(append(tc.args, "-d", "100ms", "-format", "md"), t.Output())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var out strings.Builder
			if err := run(ctx, o, &out, t.Output()); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			var rows int
			for line := range strings.Lines(out.String()) {
				c := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
				if len(c) != len(header) || strings.TrimSpace(c[0]) == "mix" || strings.HasPrefix(strings.TrimSpace(c[0]), "---") {
					continue
				}
				rows++
				if got := strings.TrimSpace(c[8]); got != "0" {
					t.Errorf("row %q: %s errors", line, got)
				}
				if got := strings.TrimSpace(c[9]); got == "-" {
					t.Errorf("row %q: server CPU not measured", line)
				}
			}
			if rows != tc.rows {
				t.Errorf("%d rows, want %d:\n%s", rows, tc.rows, out.String())
			}
			if !strings.Contains(out.String(), "dev: server peak RSS") {
				t.Errorf("no peak RSS line:\n%s", out.String())
			}
		})
	}
}
