package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	workloadpb "github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"

	"github.com/spikeledger/spike/internal/identity"
)

// SPIKE's SDK takes its identity only as a *workloadapi.X509Source, a
// Workload API client. So that the sdk and sdk-new clients run with the
// same SVID files as ours, whatever started the target, this program
// serves those files over a Workload API of its own: one unix socket per
// SVID directory, answering every caller with that SVID. It serves the
// X.509 stream only, which is all an X509Source reads.

// fileAgent is a Workload API serving one SVID directory.
type fileAgent struct {
	workloadpb.UnimplementedSpiffeWorkloadAPIServer
	resp *workloadpb.X509SVIDResponse
	td   spiffeid.TrustDomain
	dir  string // holds the socket
	srv  *grpc.Server
}

// startFileAgent loads the SVID files in svidDir and serves them.
func startFileAgent(svidDir string) (*fileAgent, error) {
	svid, bundle, err := identity.LoadSVIDFiles(identity.FilesIn(svidDir))
	if err != nil {
		return nil, fmt.Errorf("SVID files in %s: %w", svidDir, err)
	}
	certs, key, err := svid.MarshalRaw()
	if err != nil {
		return nil, fmt.Errorf("SVID files in %s: %w", svidDir, err)
	}
	var roots []byte
	for _, c := range bundle.X509Authorities() {
		roots = append(roots, c.Raw...)
	}
	dir, err := os.MkdirTemp("", "spike-load-agent-")
	if err != nil {
		return nil, fmt.Errorf("workload API: %w", err)
	}
	a := &fileAgent{
		resp: &workloadpb.X509SVIDResponse{Svids: []*workloadpb.X509SVID{{
			SpiffeId: svid.ID.String(), X509Svid: certs, X509SvidKey: key, Bundle: roots,
		}}},
		td:  svid.ID.TrustDomain(),
		dir: dir,
		srv: grpc.NewServer(),
	}
	lis, err := net.Listen("unix", a.socket())
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("workload API: %w", err)
	}
	workloadpb.RegisterSpiffeWorkloadAPIServer(a.srv, a)
	go a.srv.Serve(lis)
	return a, nil
}

func (a *fileAgent) socket() string { return filepath.Join(a.dir, "agent.sock") }

// FetchX509SVID sends the SVID once and holds the stream open, as an
// agent does between rotations.
func (a *fileAgent) FetchX509SVID(_ *workloadpb.X509SVIDRequest, stream workloadpb.SpiffeWorkloadAPI_FetchX509SVIDServer) error {
	if err := stream.Send(a.resp); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// source returns a go-spiffe X509Source on this agent, as the SDK's
// api.New would open on SPIRE's.
func (a *fileAgent) source(ctx context.Context) (*workloadapi.X509Source, error) {
	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr("unix://"+a.socket())))
	if err != nil {
		return nil, fmt.Errorf("workload API source: %w", err)
	}
	return src, nil
}

func (a *fileAgent) Close() error {
	a.srv.Stop()
	return errors.Join(os.RemoveAll(a.dir))
}
