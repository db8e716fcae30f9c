//go:build linux

package diskfull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spikeledger/spike/sdk"
)

// answer is what Nexus answered one call, as the client role prints it.
type answer struct {
	Path    string `json:"path"`
	Status  int    `json:"status"` // 200, the refusal's status, or 0 for no answer
	Code    string `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Err     string `json:"err,omitempty"`
	// Data is whether a get returned the secret's data.
	Data bool `json:"data,omitempty"`
}

// filled is the outcome of the fill command.
type filled struct {
	Acked   []string `json:"acked"`
	Refused *answer  `json:"refused,omitempty"`
}

// read is the outcome of the gets command.
type read struct {
	Answered int     `json:"answered"`
	Refused  *answer `json:"refused,omitempty"`
}

// checked is the outcome of the check command.
type checked struct {
	Checked int      `json:"checked"`
	Bad     []string `json:"bad,omitempty"` // "path: what was wrong"
}

// valueFor is the value a put of path stores: size bytes, derived from
// the path so that the check needs only the paths.
func valueFor(path string, size int) string {
	return strings.Repeat(path+"|", size/(len(path)+1)+1)[:size]
}

// runRole is the child's main: role "client" with a command in args.
func runRole(role string, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := client(ctx, role, args)
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(out)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "diskfull role %s %v: %v\n", role, args, err)
		return 1
	}
	return 0
}

// client runs one command, without retries: a 503 is what the test
// looks for, not something to wait out.
//
//	key                    the log's verifier key, once it has a checkpoint
//	fill PREFIX SIZE MAX   put PREFIX/0.. until one is refused
//	put PATH SIZE          one put
//	get PATH               one audited get
//	gets PATH MAX          audited gets of PATH until one is refused
//	reads PATH             how many secret.read events the log has of PATH
//	check SIZE PATH...     get each path and compare its value
func client(ctx context.Context, role string, args []string) (any, error) {
	if role != "client" || len(args) == 0 {
		return nil, fmt.Errorf("unknown role or no command")
	}
	c, err := sdk.New(ctx, sdk.WithRetry(0))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	num := func(i int) int {
		n, err := strconv.Atoi(args[i])
		if err != nil {
			panic(fmt.Sprintf("argument %d: %v", i, err))
		}
		return n
	}
	switch args[0] {
	case "key":
		// The first checkpoint is signed within a second of the first
		// events.
		for {
			cp, err := c.Checkpoint(ctx)
			if err == nil {
				return cp.VerifierKey, nil
			}
			if !errors.Is(err, sdk.ErrNotFound) {
				return nil, err
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(100 * time.Millisecond):
			}
		}
	case "fill":
		var f filled
		size, most := num(2), num(3)
		for i := range most {
			path := fmt.Sprintf("%s/%d", args[1], i)
			if _, err := c.PutSecret(ctx, path, map[string]string{"v": valueFor(path, size)}); err != nil {
				a := answerOf(path, err)
				f.Refused = &a
				break
			}
			f.Acked = append(f.Acked, path)
		}
		return f, nil
	case "put":
		_, err := c.PutSecret(ctx, args[1], map[string]string{"v": valueFor(args[1], num(2))})
		return answerOf(args[1], err), nil
	case "get":
		s, err := c.GetSecret(ctx, args[1], 0)
		a := answerOf(args[1], err)
		a.Data = s != nil && len(s.Data) > 0
		return a, nil
	case "gets":
		var rd read
		for range num(2) {
			s, err := c.GetSecret(ctx, args[1], 0)
			if err != nil {
				a := answerOf(args[1], err)
				a.Data = s != nil
				rd.Refused = &a
				break
			}
			rd.Answered++
		}
		return rd, nil
	case "reads":
		n := 0
		q := sdk.AuditQuery{Path: args[1], Types: []string{"secret.read"}}
		for {
			evs, next, err := c.AuditEvents(ctx, q)
			if err != nil {
				return nil, err
			}
			n += len(evs)
			if next == 0 {
				return n, nil
			}
			q.After = next
		}
	case "check":
		size := num(1)
		var ck checked
		for _, path := range args[2:] {
			s, err := c.GetSecret(ctx, path, 0)
			switch {
			case err != nil:
				ck.Bad = append(ck.Bad, path+": "+err.Error())
			case s.Data["v"] != valueFor(path, size):
				ck.Bad = append(ck.Bad, path+": another value")
			}
			ck.Checked++
		}
		return ck, nil
	}
	return nil, fmt.Errorf("unknown command %q", args[0])
}

// answerOf describes the outcome of a call.
func answerOf(path string, err error) answer {
	a := answer{Path: path, Status: 200}
	if err == nil {
		return a
	}
	a.Status, a.Err = 0, err.Error()
	var se *sdk.Error
	if errors.As(err, &se) {
		a.Status, a.Code, a.Reason, a.Message = se.Status, string(se.Code), string(se.Reason), se.Message
	}
	return a
}
