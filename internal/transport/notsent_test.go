package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// TestErrNotSent: a call that failed before its request was written says
// so (the server cannot have acted on it); one whose request the server
// read before the connection broke does not.
func TestErrNotSent(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	nexus := p.source(nexusID)
	listen := func(serve func(net.Listener)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		if serve != nil {
			go serve(ln)
		} else {
			ln.Close() // nothing listens: refused
		}
		return "https://" + ln.Addr().String()
	}
	tests := []struct {
		name string
		url  string
		want bool
	}{
		{"refused", listen(nil), true},
		{"closed during the handshake", listen(func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Read(make([]byte, 1)) // the ClientHello has arrived
				c.Close()
			}
		}), true},
		{"closed after reading the request", listen(func(ln net.Listener) {
			hs := &http.Server{TLSConfig: tlsconfig.MTLSServerConfig(nexus, nexus, tlsconfig.AuthorizeAny()),
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.ReadAll(r.Body)
					if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
						c.Close()
					}
				})}
			hs.ServeTLS(ln, "", "")
		}), false},
	}
	c := client(t, p.source(pilotID), tlsconfig.AuthorizeID(nexusID))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.Do(context.Background(), Call{BaseURL: tt.url, Path: "/v1/echo", Request: struct{}{}})
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if got := errors.Is(err, ErrNotSent); got != tt.want {
				t.Errorf("errors.Is(%v, ErrNotSent) = %v, want %v", err, got, tt.want)
			}
		})
	}
}
