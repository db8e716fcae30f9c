package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	sdkapi "github.com/spiffe/spike-sdk-go/api"

	"github.com/spikeledger/spike/internal/identity"
)

// target is a Nexus being driven, with what each client kind needs to
// call it as the cell's caller: the superuser, or with -policies the load
// workload.
type target struct {
	targetSpec
	child *child // a development cluster this program started
	td    spiffeid.TrustDomain

	su      *oursClient // the superuser, which prepares the target
	caller  string      // the SVID directory the cells call with
	ours    *oursClient // nil until needed; su when caller is the superuser
	agent   *fileAgent
	src     *workloadapi.X509Source
	clients map[string]client
}

// loadDir is where the SVID files of the load workload are beside the
// superuser's: -svid-dir/../load.
func loadDir(superuser string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(superuser)), "load")
}

// openTarget starts a development cluster for a spec without a URL and
// opens the superuser's client.
func openTarget(ctx context.Context, spec targetSpec, profile string) (*target, error) {
	t := &target{targetSpec: spec, clients: map[string]client{}}
	if spec.url == "" {
		c, err := startChild(ctx, profile)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", spec.name, err)
		}
		t.child = c
		t.url, t.svidDir, t.loadDir, t.pids = c.url, c.svidDir, c.loadDir, []int{c.cmd.Process.Pid}
	}
	if t.loadDir == "" {
		t.loadDir = loadDir(t.svidDir)
	}
	svid, _, err := identity.LoadSVIDFiles(identity.FilesIn(t.svidDir))
	if err != nil {
		t.close()
		return nil, fmt.Errorf("target %s: %w", spec.name, err)
	}
	t.td = svid.ID.TrustDomain()
	if t.su, err = newOursClient(ctx, t.url, t.svidDir); err != nil {
		t.close()
		return nil, fmt.Errorf("target %s: superuser: %w", spec.name, err)
	}
	t.caller = t.svidDir
	return t, nil
}

// callAs makes the cells call as the identity in dir.
func (t *target) callAs(dir string) { t.caller = dir }

// client returns the target's client of kind, opening it on first use.
func (t *target) client(ctx context.Context, kind string) (client, error) {
	if c, ok := t.clients[kind]; ok {
		return c, nil
	}
	var c client
	switch kind {
	case clientOurs:
		if t.caller == t.svidDir {
			t.ours = t.su
		} else {
			var err error
			if t.ours, err = newOursClient(ctx, t.url, t.caller); err != nil {
				return nil, fmt.Errorf("target %s: %w", t.name, err)
			}
		}
		c = t.ours
	case clientSDK, clientSDKNew:
		if t.src == nil {
			var err error
			if t.agent, err = startFileAgent(t.caller); err != nil {
				return nil, fmt.Errorf("target %s: %w", t.name, err)
			}
			if t.src, err = t.agent.source(ctx); err != nil {
				return nil, fmt.Errorf("target %s: %w", t.name, err)
			}
		}
		if kind == clientSDKNew {
			c = &sdkNewClient{a: sdkapi.NewWithSource(t.src)}
			break
		}
		sc, err := newSDKClient(t.src, t.url)
		if err != nil {
			return nil, err
		}
		c = sc
	default:
		return nil, fmt.Errorf("client %q", kind)
	}
	t.clients[kind] = c
	return c, nil
}

// close closes the clients, and stops the development cluster if this
// program started it.
func (t *target) close() error {
	var errs []error
	for _, c := range t.clients {
		c.close()
	}
	if t.ours != nil && t.ours != t.su {
		t.ours.Close()
	}
	if t.su != nil {
		t.su.Close()
	}
	if t.src != nil {
		errs = append(errs, t.src.Close())
	}
	if t.agent != nil {
		errs = append(errs, t.agent.Close())
	}
	if t.child != nil {
		t.child.stop()
	}
	return errors.Join(errs...)
}
