package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	sdkapi "github.com/spiffe/spike-sdk-go/api"
	"github.com/spiffe/spike-sdk-go/api/entity/v1/reqres"
	sdkurl "github.com/spiffe/spike-sdk-go/api/url"
	sdkErrors "github.com/spiffe/spike-sdk-go/errors"
	sdknet "github.com/spiffe/spike-sdk-go/net"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// session is what one caller uses for a whole cell.
type session interface {
	get(ctx context.Context, path string) error
	put(ctx context.Context, path string, values map[string]string) error
	close()
}

// client makes the sessions of one kind of client against one target.
type client interface {
	session() session
	close()
}

// ---------------------------------------------------------------------
// ours: spike's transport, as spike's SDK and pilot use it — one client,
// its connections pooled and reused by every caller.

type oursClient struct {
	tc  *transport.Client
	src identity.Source
	url string
}

// newOursClient opens the SVID files in svidDir and pins the server to
// spiffe://<the SVID's trust domain>/spike/nexus.
func newOursClient(ctx context.Context, nexusURL, svidDir string) (*oursClient, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, err := identity.OpenSource(ctx, "", svidDir, 10*time.Second, logger)
	if err != nil {
		return nil, err
	}
	svid, err := src.GetX509SVID()
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("SVID in %s: %w", svidDir, err)
	}
	nexusID, err := spiffeid.FromPath(svid.ID.TrustDomain(), identity.PathNexus)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("nexus ID: %w", err)
	}
	tc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(nexusID),
		Retries: -1, Logger: logger, MaxConnsPerHost: maxCallers, MaxIdleConns: maxCallers})
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("client: %w", err)
	}
	return &oursClient{tc: tc, src: src, url: nexusURL}, nil
}

func (c *oursClient) session() session { return c }
func (c *oursClient) close()           {} // the client outlives its sessions

func (c *oursClient) Close() {
	c.tc.Close()
	c.src.Close()
}

func (c *oursClient) do(ctx context.Context, op api.Op, req, resp any) error {
	return c.tc.Do(ctx, transport.Call{BaseURL: c.url, Path: op.Path(), Action: string(op.Action()), Request: req, Response: resp})
}

func (c *oursClient) get(ctx context.Context, path string) error {
	var resp api.SecretGetResponse
	return c.do(ctx, api.OpSecretGet, api.SecretGetRequest{Path: path}, &resp)
}

func (c *oursClient) put(ctx context.Context, path string, values map[string]string) error {
	var resp api.SecretPutResponse
	return c.do(ctx, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: values}, &resp)
}

// ---------------------------------------------------------------------
// sdk: SPIKE's SDK (spike-sdk-go v0.19.9) as a long-running workload
// would want it: its request and response types, its POST and status
// mapping (net.Post) and its answer-code mapping (errors.FromCode), over
// its own mTLS client constructor — but one client per caller, kept for
// the whole cell, so connections are reused.

type sdkClient struct {
	src            *workloadapi.X509Source
	getURL, putURL string
}

func newSDKClient(src *workloadapi.X509Source, nexusURL string) (*sdkClient, error) {
	u, err := url.JoinPath(nexusURL, string(sdkurl.NexusSecrets))
	if err != nil {
		return nil, fmt.Errorf("sdk client: %w", err)
	}
	q := url.Values{sdkurl.KeyAPIAction: {string(sdkurl.ActionGet)}}
	return &sdkClient{src: src, getURL: u + "?" + q.Encode(), putURL: u}, nil
}

func (c *sdkClient) session() session {
	return &sdkSession{c: c, hc: sdknet.CreateMTLSClientForNexus(c.src)}
}

func (c *sdkClient) close() {}

type sdkSession struct {
	c  *sdkClient
	hc *http.Client
}

func (s *sdkSession) close() { s.hc.CloseIdleConnections() }

func (s *sdkSession) get(ctx context.Context, path string) error {
	var resp reqres.SecretGetResponse
	return sdkPost(ctx, s.hc, s.c.getURL, reqres.SecretGetRequest{Path: path}, &resp, func() sdkErrors.ErrorCode { return resp.Err })
}

func (s *sdkSession) put(ctx context.Context, path string, values map[string]string) error {
	var resp reqres.SecretPutResponse
	return sdkPost(ctx, s.hc, s.c.putURL, reqres.SecretPutRequest{Path: path, Values: values}, &resp, func() sdkErrors.ErrorCode { return resp.Err })
}

// sdkPost is what the SDK's net.PostAndUnmarshal does, with the caller's
// client instead of a new one.
func sdkPost(ctx context.Context, hc *http.Client, u string, req, resp any, code func() sdkErrors.ErrorCode) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	out, sdkErr := sdknet.Post(ctx, hc, u, body)
	if sdkErr != nil {
		return sdkErr
	}
	if err := json.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("sdk: decode answer: %w", err)
	}
	if c := code(); c != "" {
		return sdkErrors.FromCode(c)
	}
	return nil
}

// ---------------------------------------------------------------------
// sdk-new: SPIKE's SDK exactly as it ships: api.API's GetSecret and
// PutSecret, each of which builds a new mTLS client, so a new connection
// and handshake per call. Its URL comes from SPIKE_NEXUS_API_URL, which
// run sets before each cell of this client.

type sdkNewClient struct {
	a *sdkapi.API
}

func (c *sdkNewClient) session() session { return c }
func (c *sdkNewClient) close()           {}

func (c *sdkNewClient) get(ctx context.Context, path string) error {
	_, err := c.a.GetSecret(ctx, path)
	return sdkError(err)
}

func (c *sdkNewClient) put(ctx context.Context, path string, values map[string]string) error {
	return sdkError(c.a.PutSecret(ctx, path, values))
}

// sdkError turns the SDK's typed nil into an untyped one.
func sdkError(err *sdkErrors.SDKError) error {
	if err == nil {
		return nil
	}
	return err
}

// sdkEnvFor sets what SPIKE's SDK reads from the environment for these
// targets: the trust domains a Nexus may be in, and an idle-connection
// timeout of one second instead of 30. The latter changes no call (each
// sdk-new call still dials and handshakes anew) but closes its connection
// within the cell that opened it: at hundreds of calls a second, 30 s of
// idle connections would exhaust file descriptors and bill their closing
// to later cells.
func sdkEnvFor(tds []spiffeid.TrustDomain) error {
	var roots string
	for i, td := range tds {
		if i > 0 {
			roots += ","
		}
		roots += td.Name()
	}
	return errors.Join(
		os.Setenv("SPIKE_TRUST_ROOT_NEXUS", roots),
		os.Setenv("SPIKE_HTTP_CLIENT_IDLE_CONN_TIMEOUT", "1s"),
		os.Setenv("SPIKE_SYSTEM_LOG_LEVEL", "ERROR"),
	)
}
