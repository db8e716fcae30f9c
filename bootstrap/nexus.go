package bootstrap

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// nexusStatus is what Bootstrap learnt about Nexus: its answer to the
// status query (known) or, from a Nexus without that extension (SPIKE
// v0.8), what its readiness gate told (inferred): Sealed, when it
// answered 503 state_not_ready (it waits for a root key), or
// Bootstrapped, when it let the query through to its 400 api_bad_request
// fallback (it holds a root key). Neither is set when Nexus could not say
// and --force went on.
type nexusStatus struct {
	api.BootstrapStatusResponse
	known, inferred bool
}

// ErrVerifyMismatch is the error of a verification Nexus answered with
// another hash: Nexus holds a different root key.
var ErrVerifyMismatch = errors.New("nexus holds a different root key")

// errNoStatus marks a Nexus that answers, but not the status query.
var errNoStatus = errors.New("it does not answer the bootstrap status query")

// What SPIKE v0.8's Nexus, which does not know the status query, answers
// it: its readiness gate runs before its routing (wire reference §3.1).
var (
	// errGateSealed: 503 {"err":"state_not_ready"}, until it holds a root
	// key. spike's Nexus never answers the status query so: it answers it
	// while sealed.
	errGateSealed = errors.New("it answers the status query 503 state_not_ready, as SPIKE v0.8's Nexus answers any unknown route until it holds a root key")
	// errGateOpen: 400 {"err":"api_bad_request"}, its fallback for an
	// unknown route, once the gate lets requests through.
	errGateOpen = errors.New("it answers the status query 400 api_bad_request, as SPIKE v0.8's Nexus answers an unknown route once it holds a root key")
)

// waitForNexus asks Nexus whether the system is bootstrapped, waiting
// for it to answer at most cfg.NexusWait.
func (r *runner) waitForNexus(ctx context.Context) (nexusStatus, error) {
	wctx, cancel := context.WithTimeout(ctx, r.cfg.NexusWait)
	defer cancel()
	var st api.BootstrapStatusResponse
	n, err := retry(wctx, r.poll(), r.logWait("waiting for Nexus"), func(ctx context.Context) error {
		st = api.BootstrapStatusResponse{}
		return r.classifyStatus(r.nexus.Do(ctx, transport.Call{
			BaseURL: r.cfg.NexusURL, Path: api.PathBootstrapStatus,
			Request: api.BootstrapStatusRequest{}, Response: &st,
		}))
	})
	switch {
	case err == nil:
		r.log.Info("Nexus answered", "nexus", r.cfg.NexusURL, "bootstrapped", st.Bootstrapped, "sealed", st.Sealed,
			"shares", st.Shares, "threshold", st.Threshold)
		return nexusStatus{BootstrapStatusResponse: st, known: true}, nil
	case errors.Is(err, errGateSealed):
		return nexusStatus{BootstrapStatusResponse: api.BootstrapStatusResponse{Sealed: true}, inferred: true}, nil
	case errors.Is(err, errGateOpen):
		return nexusStatus{BootstrapStatusResponse: api.BootstrapStatusResponse{Bootstrapped: true}, inferred: true}, nil
	case errors.Is(err, errNoStatus) && r.cfg.Force:
		return nexusStatus{}, nil
	case wctx.Err() != nil && ctx.Err() == nil:
		return nexusStatus{}, fmt.Errorf("nexus %s did not answer within %s (SPIKE_BOOTSTRAP_NEXUS_TIMEOUT), %d attempts; last error: %v",
			r.cfg.NexusURL, r.cfg.NexusWait, n, err)
	case ctx.Err() != nil:
		return nexusStatus{}, fmt.Errorf("nexus %s: %w after %d attempts; last error: %v", r.cfg.NexusURL, context.Cause(ctx), n, err)
	}
	return nexusStatus{}, fmt.Errorf("nexus %s: %w", r.cfg.NexusURL, err)
}

// classifyStatus decides what a status call's error means: Nexus not up
// yet (retry), or an answer that waiting will not change (permanent),
// SPIKE v0.8's two answers among them.
func (r *runner) classifyStatus(err error) error {
	var se *transport.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, identity.ErrUnauthorized):
		return permanent(fmt.Errorf("the server is not SPIKE Nexus: %w", err))
	case !errors.As(err, &se):
		return err // not up yet: no connection, no TLS, a timeout
	case se.Status == http.StatusUnauthorized:
		return permanent(fmt.Errorf("nexus refused this identity: %w", err))
	case spikeAnswer(se, http.StatusServiceUnavailable, api.CodeNotReady):
		return permanent(fmt.Errorf("%w (%w)", errGateSealed, err))
	case spikeAnswer(se, http.StatusBadRequest, api.CodeBadRequest):
		return permanent(fmt.Errorf("%w (%w)", errGateOpen, err))
	case r.cfg.Force:
		r.log.Warn("Nexus does not answer the bootstrap status query", "nexus", r.cfg.NexusURL, "err", err)
		return permanent(fmt.Errorf("%w: %w", errNoStatus, err))
	case se.Status == http.StatusBadRequest || se.Status == http.StatusNotFound:
		return permanent(fmt.Errorf("%w (%w): it cannot say whether the system is bootstrapped; "+
			"run with --force (SPIKE_BOOTSTRAP_FORCE=true) to bootstrap anyway", errNoStatus, err))
	}
	return err // another 503 or server error: not ready yet
}

// spikeAnswer reports whether se is SPIKE v0.8's body for an error:
// status and code as given, nothing more (no extension Problem fields).
func spikeAnswer(se *transport.StatusError, status int, code api.ErrorCode) bool {
	return se.Status == status && se.Code == code && se.Reason == "" && se.Message == "" && se.CurrentVersion == nil
}

// poll is the schedule of status and verify attempts.
func (r *runner) poll() backoff {
	return backoff{initial: r.cfg.PollInitial, max: r.cfg.PollMax}
}

// logWait returns a retry callback logging msg.
func (r *runner) logWait(msg string) func(int, error, time.Duration) {
	return func(attempt int, err error, delay time.Duration) {
		r.log.Info(msg, "nexus", r.cfg.NexusURL, "attempt", attempt, "err", err, "retry_in", delay.String())
	}
}

// verify proves that Nexus rebuilt key, SPIKE's way: it encrypts a
// random text under the key and compares the SHA-256 Nexus answers with
// the text's. The request also carries the sharing, for Nexus to record.
func (r *runner) verify(ctx context.Context, key *[shamir.KeySize]byte, com shamir.Commitment) error {
	req, want, err := verifyRequest(key)
	if err != nil {
		return err
	}
	req.Commitment, req.Shares, req.Threshold = com, r.cfg.Shares, r.cfg.Threshold
	vctx, cancel := context.WithTimeout(ctx, r.cfg.VerifyTimeout)
	defer cancel()
	var resp api.BootstrapVerifyResponse
	n, err := retry(vctx, r.poll(), r.logWait("waiting for Nexus to rebuild the root key"), func(ctx context.Context) error {
		resp = api.BootstrapVerifyResponse{}
		return classifyVerify(r.nexus.Do(ctx, transport.Call{
			BaseURL: r.cfg.NexusURL, Path: api.PathBootstrapVerify, Request: req, Response: &resp,
		}))
	})
	switch {
	case err != nil && vctx.Err() != nil && ctx.Err() == nil:
		return fmt.Errorf("nexus %s did not verify the root key within %s (SPIKE_BOOTSTRAP_INIT_VERIFICATION_TIMEOUT), %d attempts; last error: %v",
			r.cfg.NexusURL, r.cfg.VerifyTimeout, n, err)
	case err != nil:
		return fmt.Errorf("nexus %s: verification failed: %w", r.cfg.NexusURL, err)
	case resp.Err != "":
		return fmt.Errorf("nexus %s: verification failed: %s", r.cfg.NexusURL, resp.Err)
	case subtle.ConstantTimeCompare([]byte(resp.Hash), []byte(want)) != 1:
		return fmt.Errorf("nexus %s: verification failed: it answered a hash that does not match: %w", r.cfg.NexusURL, ErrVerifyMismatch)
	}
	r.log.Info("Nexus verified the root key", "nexus", r.cfg.NexusURL)
	return nil
}

// verifyRequest encrypts the hex form of 32 random bytes under key with
// AES-256-GCM (random 12-byte nonce, no associated data) and returns the
// request and the hex SHA-256 of the text.
func verifyRequest(key *[shamir.KeySize]byte) (api.BootstrapVerifyRequest, string, error) {
	var random [32]byte
	nonce := make([]byte, api.NonceSize)
	if _, err := rand.Read(random[:]); err != nil {
		return api.BootstrapVerifyRequest{}, "", fmt.Errorf("verification text: %w", err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return api.BootstrapVerifyRequest{}, "", fmt.Errorf("verification nonce: %w", err)
	}
	text := []byte(hex.EncodeToString(random[:]))
	defer seal.ZeroAll(random[:], text)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return api.BootstrapVerifyRequest{}, "", fmt.Errorf("verification cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return api.BootstrapVerifyRequest{}, "", fmt.Errorf("verification cipher: %w", err)
	}
	sum := sha256.Sum256(text)
	req := api.BootstrapVerifyRequest{Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, text, nil)}
	return req, hex.EncodeToString(sum[:]), nil
}

// classifyVerify decides whether a verify call is worth another attempt:
// yes while Nexus is unreachable, sealed (503) or cannot decrypt yet
// (500: it may not hold the key yet); no for a refusal.
func classifyVerify(err error) error {
	var se *transport.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, identity.ErrUnauthorized):
		return permanent(fmt.Errorf("the server is not SPIKE Nexus: %w", err))
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500:
		return permanent(err)
	}
	return err
}
