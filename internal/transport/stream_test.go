package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
)

// serveLoopback serves srv on a loopback port until stop is called or
// the test ends, and returns the port's address.
func serveLoopback(t testing.TB, srv *Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// streamServer serves stream routes with short read and write timeouts,
// which a stream must outlive; stop shuts it down.
func streamServer(t *testing.T, p *pki, routes ...Route) (url string, stop func()) {
	t.Helper()
	src := p.source(nexusID)
	srv, err := NewServer(ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeMemberOf(td),
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}, routes)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveLoopback(t, srv)
	return "https://" + addr, stop
}

func TestStream(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	const lines = 12
	ended := make(chan error, 3)
	ticker := func(ctx context.Context, r *Request) Response {
		return Response{ContentType: api.ContentTypeNDJSON, Stream: func(ctx context.Context, w io.Writer) error {
			for i := range lines {
				select {
				case <-time.After(50 * time.Millisecond): // 12 × 50 ms outlasts both timeouts
				case <-ctx.Done():
					return ctx.Err()
				}
				if _, err := fmt.Fprintf(w, "%d\n", i); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	wait := func(ctx context.Context, r *Request) Response {
		return Response{Stream: func(ctx context.Context, w io.Writer) error {
			io.WriteString(w, "ready\n")
			<-ctx.Done()
			ended <- ctx.Err()
			return ctx.Err()
		}}
	}
	url, stop := streamServer(t, p,
		Route{Path: "/v1/tick", Handler: ticker},
		Route{Path: "/v1/wait", Handler: wait},
		Route{Path: "/v1/no", Allow: func(spiffeid.ID) bool { return false }, Handler: ticker})
	c := client(t, p.source(pilotID), tlsconfig.AuthorizeID(nexusID))

	t.Run("outlives the timeouts", func(t *testing.T) {
		body, err := c.Open(t.Context(), Call{BaseURL: url, Path: "/v1/tick", Request: struct{}{}})
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(b), "\n"); got != lines {
			t.Fatalf("read %d lines (%q), want %d", got, b, lines)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, err := c.Open(t.Context(), Call{BaseURL: url, Path: "/v1/no", Request: struct{}{}})
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
			t.Fatalf("Open = %v, want 401", err)
		}
	})
	// open starts a wait stream and reads its first line.
	open := func(t *testing.T, ctx context.Context) io.ReadCloser {
		body, err := c.Open(ctx, Call{BaseURL: url, Path: "/v1/wait", Request: struct{}{}})
		if err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(body).ReadString('\n'); line != "ready\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		return body
	}
	endsWithin := func(t *testing.T) {
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatal("the stream's context did not end")
		}
	}
	t.Run("caller cancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		body := open(t, ctx)
		defer body.Close()
		cancel()
		endsWithin(t)
	})
	t.Run("server shuts down", func(t *testing.T) {
		body := open(t, t.Context())
		defer body.Close()
		stop()
		endsWithin(t)
		if _, err := io.ReadAll(body); err != nil {
			t.Fatalf("the stream did not end cleanly: %v", err)
		}
	})
}
