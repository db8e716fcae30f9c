package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

func TestDecodeTailLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, line string
		ok         bool
	}{
		{"heartbeat", `{"next":7}`, true},
		{"event", `{"event":{"seq":6,"time":"2026-12-05T10:00:00Z","type":"secret.read"},"next":7}`, true},
		{"error", `{"err":"state_not_ready","next":7,"message":"m"}`, true},
		{"crlf", "{\"next\":7}\r", true},
		{"no next", `{}`, false},
		{"null", `null`, false},
		{"array", `[{"next":1}]`, false},
		{"two objects", `{"next":1}{"next":2}`, false},
		{"event and error", `{"event":{"seq":6},"err":"api_internal_error","next":7}`, false},
		{"seq and next disagree", `{"event":{"seq":6},"next":9}`, false},
		{"seq 0", `{"event":{"seq":0},"next":1}`, false},
		{"bad json", `{"next":`, false},
		{"empty", ``, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeTailLine([]byte(tc.line))
			if (err == nil) != tc.ok {
				t.Fatalf("decodeTailLine(%q) = %v, want ok %v", tc.line, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error %v is not ErrBadAnswer", err)
			}
		})
	}
}

// FuzzDecodeTailLine: any line is accepted or refused as a bad answer,
// never a panic, and what is accepted keeps the line rules and reads
// back the same once encoded again.
func FuzzDecodeTailLine(f *testing.F) {
	for _, s := range []string{`{"next":7}`, `{"event":{"seq":6,"type":"secret.read","actor":"spiffe://x/y","versions":[1,2]},"next":7}`,
		`{"err":"state_not_ready","next":7,"message":"m"}`, `{"event":null,"next":1}`, `{"next":18446744073709551615}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeTailLine(b)
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error %v is not ErrBadAnswer", err)
			}
			return
		}
		if l.Next == 0 || (l.Event != nil && (l.Err != "" || l.Next != l.Event.Seq+1)) {
			t.Fatalf("accepted %q as %+v", b, l)
		}
		again, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		l2, err := decodeTailLine(again)
		if err != nil || l2.Next != l.Next || (l2.Event == nil) != (l.Event == nil) || l2.Err != l.Err {
			t.Fatalf("%q → %s → %+v, %v", b, again, l2, err)
		}
	})
}

// TestAuditTailFollowsAgain: a stream that breaks off, and one Nexus ends
// to shut down, are followed again from where they stopped; an error
// line ends the tail.
func TestAuditTailFollowsAgain(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var froms []uint64
	streams := []string{
		// Breaks off after two events, with no last line.
		`{"next":1}` + "\n" + `{"event":{"seq":1,"type":"secret.read"},"next":2}` + "\n" + `{"event":{"seq":2,"type":"secret.read"},"next":3}` + "\n",
		// Ends to shut down.
		`{"next":3}` + "\n" + `{"event":{"seq":3,"type":"secret.read"},"next":4}` + "\n" + `{"err":"state_not_ready","next":5}` + "\n",
		// Fails.
		`{"next":5}` + "\n" + `{"event":{"seq":6,"type":"secret.read"},"next":7}` + "\n" + `{"err":"api_internal_error","next":7}` + "\n",
	}
	f := startFake(t, "/spike/nexus", func(ctx context.Context, r *transport.Request) transport.Response {
		var req api.AuditTailRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return transport.Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}
		}
		mu.Lock()
		froms = append(froms, req.From)
		n := len(froms)
		mu.Unlock()
		if n > len(streams) {
			return transport.Response{Status: http.StatusInternalServerError, Body: api.NewErrorResponse(api.CodeInternal)}
		}
		return transport.Response{ContentType: api.ContentTypeNDJSON, Stream: func(ctx context.Context, w io.Writer) error {
			_, err := io.WriteString(w, streams[n-1])
			return err
		}}
	})
	c := f.client(t, 5*time.Second)
	s, err := c.AuditTail(t.Context(), AuditTailQuery{Types: []string{"secret.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seqs []uint64
	var last error
	for ev, err := range s.All() {
		if err != nil {
			last = err
			break
		}
		seqs = append(seqs, ev.Seq)
	}
	var e *Error
	if !errors.As(last, &e) || e.Code != api.CodeInternal {
		t.Fatalf("tail ended with %v, want an internal error", last)
	}
	if fmt.Sprint(seqs) != "[1 2 3 6]" || fmt.Sprint(froms) != "[0 3 5]" {
		t.Fatalf("events %v, streams from %v", seqs, froms)
	}
	if s.Next() != 7 {
		t.Fatalf("Next = %d", s.Next())
	}
}

// TestAuditTailRefused: a refusal comes from AuditTail, as an *Error.
func TestAuditTailRefused(t *testing.T) {
	t.Parallel()
	f := startFake(t, "/spike/nexus", answer(http.StatusTooManyRequests, api.Problem{Err: api.CodeBusy, Reason: api.ReasonTooManyFollowers, Message: "m"}))
	_, err := f.client(t, time.Second).AuditTail(t.Context(), AuditTailQuery{})
	var e *Error
	if !errors.As(err, &e) || e.Code != api.CodeBusy || e.Reason != api.ReasonTooManyFollowers {
		t.Fatalf("AuditTail = %v, want busy", err)
	}
}

// TestAuditTailClose: Close ends a waiting Recv with the context's error.
func TestAuditTailClose(t *testing.T) {
	t.Parallel()
	f := startFake(t, "/spike/nexus", func(ctx context.Context, r *transport.Request) transport.Response {
		return transport.Response{ContentType: api.ContentTypeNDJSON, Stream: func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, `{"next":1}`+"\n")
			<-ctx.Done()
			return nil
		}}
	})
	s, err := f.client(t, time.Second).AuditTail(t.Context(), AuditTailQuery{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { s.Close() })
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv after Close = %v", err)
	}
}
