package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// StreamFunc writes a streaming answer (a Response's Stream). It is
// called exactly once for every Response that carries it, even when the
// caller is gone before the answer starts (ctx is done then). ctx ends
// when the caller hangs up or the server shuts down; each Write to w is
// sent at once. Its error is only logged: the status is already sent, so
// a stream that fails says so in its own format before returning.
type StreamFunc func(ctx context.Context, w io.Writer) error

// stream writes a streaming answer: the status and headers at once, then
// whatever resp.Stream writes, each write flushed. The server's read and
// write timeouts bound a request, not a stream that lasts hours: the read
// deadline is lifted (the body is read already) and each write gets its
// own write timeout, so a caller that stops reading is still dropped.
// It returns when the answer started, for the latency metric.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *Request, resp Response) time.Time {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.streams, cancel)
	defer stop()
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.opts.Logger.Warn("stream: lift read deadline", "request_id", req.ID, "err", err)
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	setNoStore(w.Header())
	// Proxies must not hold the lines back.
	w.Header().Set("X-Accel-Buffering", "no")
	sw := &streamWriter{w: w, rc: rc, timeout: s.opts.WriteTimeout}
	if err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.opts.Logger.Warn("stream: set write deadline", "request_id", req.ID, "err", err)
	}
	w.WriteHeader(resp.Status)
	started := time.Now()
	if err := rc.Flush(); err != nil {
		// The caller is gone. Stream runs all the same, with ctx done,
		// so that it releases what its handler took for it (a follower
		// slot, a backup's read transaction).
		cancel()
	}
	if err := resp.Stream(ctx, sw); err != nil && ctx.Err() == nil {
		s.opts.Logger.Warn("stream ended with an error", "request_id", req.ID, "route", req.route.Name, "err", err)
	}
	return started
}

// streamWriter flushes each write, within a fresh write deadline.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (sw *streamWriter) Write(b []byte) (int, error) {
	if err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, fmt.Errorf("transport: stream: %w", err)
	}
	n, err := sw.w.Write(b)
	if err != nil {
		return n, fmt.Errorf("transport: stream: %w", err)
	}
	if err := sw.rc.Flush(); err != nil {
		return n, fmt.Errorf("transport: stream: %w", err)
	}
	return n, nil
}

// Open makes a call whose answer is a stream and returns its body as it
// arrives; the caller reads it and closes it. Only ctx bounds the call
// (not the client's Timeout: a stream may last hours), and it is never
// retried: a caller that resumes a stream knows from where. A non-200
// answer is a *StatusError.
func (c *Client) Open(ctx context.Context, call Call) (io.ReadCloser, error) {
	body, err := jsonBody(call.Request)
	if err != nil {
		return nil, err
	}
	u, err := callURL(call)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, u, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponse))
		if err != nil {
			return nil, fmt.Errorf("transport: read response: %w", err)
		}
		return nil, statusError(resp.StatusCode, data)
	}
	return resp.Body, nil
}
