package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// A workload writes a secret and reads it back, with its identity from
// the SPIRE Workload API (SPIFFE_ENDPOINT_SOCKET) and Nexus at
// SPIKE_NEXUS_URL.
func Example() {
	ctx := context.Background()
	c, err := sdk.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.PutSecret(ctx, "tenants/demo/db/creds", map[string]string{"username": "app", "password": "s3cret"}); err != nil {
		log.Fatal(err)
	}
	s, err := c.GetSecret(ctx, "tenants/demo/db/creds", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Data["username"])
}

// Where no SPIRE agent runs, the SVID can come from the files
// spiffe-helper (or `spike dev`) writes.
func ExampleWithSVIDDir() {
	ctx := context.Background()
	c, err := sdk.New(ctx,
		sdk.WithNexusURL("https://nexus.example.org:8553"),
		sdk.WithSVIDDir("/var/run/spiffe/svid"),
		sdk.WithTrustDomain("example.org"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// A program that already has a go-spiffe source hands it over; the
// client leaves closing it to the program.
func ExampleWithSource() {
	ctx := context.Background()
	src, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	c, err := sdk.New(ctx, sdk.WithSource(src, src))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// Check-and-set: read the current version, write the next one only if
// no one else wrote in between.
func ExampleCAS() {
	ctx := context.Background()
	c, err := sdk.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	const path = "tenants/demo/counter"
	current := 0 // CAS(0): the path must not have a readable version yet
	if m, err := c.SecretMetadata(ctx, path); err == nil {
		current = m.CurrentVersion
	} else if !errors.Is(err, sdk.ErrNotFound) {
		log.Fatal(err)
	}
	v, err := c.PutSecret(ctx, path, map[string]string{"n": "1"}, sdk.CAS(current))
	switch {
	case errors.Is(err, sdk.ErrConflict):
		fmt.Println("someone else wrote first; read again and retry")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("wrote version", v)
	}
}

// Errors match the sentinels with errors.Is, whatever the operation.
func ExampleError() {
	ctx := context.Background()
	c, err := sdk.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.GetSecret(ctx, "tenants/demo/db/creds", 0)
	switch {
	case errors.Is(err, sdk.ErrNotFound):
		fmt.Println("no such secret")
	case errors.Is(err, sdk.ErrUnauthorized):
		fmt.Println("no policy lets this workload read it")
	case errors.Is(err, sdk.ErrNotReady):
		fmt.Println("Nexus is still sealed")
	case err != nil:
		var e *sdk.Error
		if errors.As(err, &e) {
			fmt.Println(e.Op, e.Status, e.Code)
		}
	}
}

// Listing page by page.
func ExampleClient_ListSecrets() {
	ctx := context.Background()
	c, err := sdk.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	opts := sdk.ListOptions{Prefix: "tenants/demo/", Limit: 100}
	for {
		paths, next, err := c.ListSecrets(ctx, opts)
		if err != nil {
			log.Fatal(err)
		}
		for _, p := range paths {
			fmt.Println(p)
		}
		if next == "" {
			break
		}
		opts.After = next
	}
}

// Encryption as a service: the workload never holds the key.
func ExampleClient_EncryptStream() {
	ctx := context.Background()
	c, err := sdk.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sealed, err := c.EncryptStream(ctx, strings.NewReader("card 4111 1111 1111 1111"))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("card.bin", sealed, 0o600); err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("card.bin")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	plain, err := c.DecryptStream(ctx, f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(plain))
}

// Who touched a secret in the last day (auditor or superuser).
func ExampleClient_SecretHistory() {
	ctx := context.Background()
	c, err := sdk.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	since := time.Now().Add(-24 * time.Hour)
	page := sdk.Page{Since: &since, Limit: 100}
	for {
		events, next, err := c.SecretHistory(ctx, "tenants/demo/db/creds", page)
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range events {
			fmt.Println(e.Time.Format(time.RFC3339), e.Actor, e.Type, e.Outcome)
		}
		if next == 0 {
			break
		}
		page.After = next
	}
}

// An administrator lets the demo workload manage its tenant's secrets.
func ExampleClient_PutPolicy() {
	ctx := context.Background()
	c, err := sdk.New(ctx) // as spiffe://spike.ist/spike/pilot/role/superuser
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	err = c.PutPolicy(ctx, sdk.Policy{
		Name:            "demo",
		SPIFFEIDPattern: `^spiffe://spike\.ist/workload/demo$`,
		PathPattern:     `^tenants/demo/.*$`,
		Permissions:     []api.Permission{api.PermRead, api.PermWrite},
	})
	if err != nil {
		log.Fatal(err)
	}
}
