package keeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spikeledger/spike/internal/telemetry"
)

// Reasons /readyz and /healthz give when they answer 503.
const (
	reasonNotServing = "not serving: the keeper is starting or stopping"
	reasonNoShard    = "no shard: waiting for Nexus or Bootstrap to contribute one"
)

// opsHandler serves /healthz, /readyz and /metrics.
func (k *Keeper) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", telemetry.Handler(k.reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !k.serving.Load() {
			writeText(w, http.StatusServiceUnavailable, reasonNotServing)
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !k.serving.Load():
			writeText(w, http.StatusServiceUnavailable, reasonNotServing)
		case !k.store.has():
			writeText(w, http.StatusServiceUnavailable, reasonNoShard)
		default:
			writeText(w, http.StatusOK, "ok")
		}
	})
	return mux
}

// writeText writes a one-line plain-text answer.
func writeText(w http.ResponseWriter, status int, line string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, line)
}

// serveOps serves the operations listener until ctx ends.
func (k *Keeper) serveOps(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           k.opsHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(k.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("keeper: operations listener: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("keeper: operations listener shutdown: %w", err)
	}
	return nil
}
