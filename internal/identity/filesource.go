package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// DefaultPollInterval is how often a FileSource looks for new files.
const DefaultPollInterval = time.Second

// FileConfig says where a FileSource finds its files and how long it
// waits for them.
type FileConfig struct {
	// Dir holds the files under spiffe-helper's default names. Empty
	// means the current directory.
	Dir string
	// Cert, Key and Bundle, when set, replace the path of one file each;
	// they are used as given, not joined to Dir.
	Cert, Key, Bundle string
	// Timeout bounds the wait for the first valid SVID (DefaultTimeout
	// if zero or negative).
	Timeout time.Duration
	// PollInterval is how often the files are checked for changes
	// (DefaultPollInterval if zero or negative).
	PollInterval time.Duration
}

// Files returns the three paths the configuration names.
func (c FileConfig) Files() SVIDFiles {
	f := FilesIn(c.Dir)
	if c.Cert != "" {
		f.Cert = c.Cert
	}
	if c.Key != "" {
		f.Key = c.Key
	}
	if c.Bundle != "" {
		f.Bundle = c.Bundle
	}
	return f
}

// FileSource is a Source reading the files spiffe-helper writes. It polls
// them and, when their content changes and validates, swaps SVID and
// bundle together atomically. Invalid new content is logged and ignored:
// the previous SVID stays in use.
type FileSource struct {
	files   SVIDFiles
	poll    time.Duration
	log     *slog.Logger
	current atomic.Pointer[fileSVID]
	updated chan struct{}
	closed  atomic.Bool
	stop    context.CancelFunc
	done    chan struct{}
	once    sync.Once

	// Owned by whichever goroutine polls: NewFileSource, then watch.
	tried        [sha256.Size]byte // content of the last failed attempt
	triedErr     error             // why it failed
	failures     int               // consecutive failures of that content
	unreadable   int               // consecutive polls a file was unreadable
	expiryLogged bool
}

// fileSVID is one validated generation of the files.
type fileSVID struct {
	svid   *x509svid.SVID
	bundle *x509bundle.Bundle
	sum    [sha256.Size]byte
}

// pollResult says what one look at the files found.
type pollResult int

const (
	pollUnchanged  pollResult = iota // same content as the installed SVID
	pollInstalled                    // new content validated and installed
	pollUnreadable                   // a file is missing or unreadable
	pollPending                      // new content failed once; retried next poll
	pollRejected                     // the same content failed twice
	pollIgnored                      // content already rejected, unchanged since
)

// NewFileSource loads the SVID files named by cfg and keeps watching them
// until Close. Files that do not exist yet, or hold an expired SVID, are
// waited for up to cfg.Timeout; files that are present but invalid (a key
// not matching the certificate, a chain not verifying against the bundle)
// fail at once with an error naming the file. ctx bounds only the wait.
// A nil logger discards log records.
func NewFileSource(ctx context.Context, cfg FileConfig, logger *slog.Logger) (*FileSource, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &FileSource{
		files:   cfg.Files(),
		poll:    cfg.PollInterval,
		log:     logger,
		updated: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// spiffe-helper may not have written the files yet, but it writes them
	// into a directory that exists: a missing one is a wrong path, said
	// now rather than after the whole timeout.
	if dir := filepath.Dir(s.files.Cert); !isDir(dir) {
		return nil, fmt.Errorf("identity: SVID directory %s does not exist", dir)
	}
	if err := s.waitFirst(ctx, timeout); err != nil {
		return nil, err
	}
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.watch(watchCtx)
	return s, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// waitFirst polls until the first SVID is installed.
func (s *FileSource) waitFirst(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(s.poll)
	defer ticker.Stop()
	for {
		res, err := s.check(time.Now())
		switch {
		case res == pollInstalled:
			return nil
		case res == pollRejected && !errors.Is(err, errNotValidNow):
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("identity: waiting for SVID files at %s: %w", s.files.Cert, ctx.Err())
		case <-deadline.C:
			return s.timeoutError(timeout, err)
		case <-ticker.C:
		}
	}
}

// timeoutError is the one line explaining why no SVID was loaded in time.
func (s *FileSource) timeoutError(timeout time.Duration, last error) error {
	return &waitError{
		msg: fmt.Sprintf("identity: no valid SVID files within %s (%s): "+
			"is spiffe-helper running and writing to %s?",
			timeout, strings.TrimPrefix(fmt.Sprint(last), "identity: "), filepath.Dir(s.files.Cert)),
		cause: context.DeadlineExceeded,
	}
}

// watch polls the files until ctx is cancelled.
func (s *FileSource) watch(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(s.poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			s.reload(now)
		}
	}
}

// reload looks at the files once and logs what changed.
func (s *FileSource) reload(now time.Time) {
	res, err := s.check(now)
	switch res {
	case pollInstalled:
		cur := s.current.Load()
		s.log.Info("identity: reloaded SVID files", "spiffe_id", cur.svid.ID.String(),
			"not_after", cur.svid.Certificates[0].NotAfter, "cert_file", s.files.Cert)
		select {
		case s.updated <- struct{}{}:
		default:
		}
	case pollPending:
		s.log.Debug("identity: new SVID files do not validate yet; retrying", "error", err.Error())
	case pollRejected:
		s.log.Warn("identity: ignoring invalid SVID files; keeping the previous SVID", "error", err.Error())
	case pollUnreadable:
		if s.unreadable == 2 {
			s.log.Warn("identity: cannot read SVID files; keeping the previous SVID", "error", err.Error())
		}
	}
	s.warnExpired(now)
}

// warnExpired logs once when the SVID in use has expired.
func (s *FileSource) warnExpired(now time.Time) {
	cur := s.current.Load()
	leaf := cur.svid.Certificates[0]
	if now.Before(leaf.NotAfter) || s.expiryLogged {
		return
	}
	s.expiryLogged = true
	s.log.Warn("identity: SVID in use has expired; waiting for new files",
		"spiffe_id", cur.svid.ID.String(), "not_after", leaf.NotAfter, "cert_file", s.files.Cert)
}

// check reads the files and installs their content if it is new and valid.
// New content that fails is retried once on the next poll, since a writer
// may have been caught between files; failing twice, it is rejected until
// it changes again.
func (s *FileSource) check(now time.Time) (pollResult, error) {
	c, err := readSVIDFiles(s.files)
	if err != nil {
		s.unreadable++
		return pollUnreadable, err
	}
	s.unreadable = 0
	sum := contentSum(c)
	if cur := s.current.Load(); cur != nil && cur.sum == sum {
		s.failures = 0
		return pollUnchanged, nil
	}
	if sum == s.tried && s.failures >= 2 {
		return pollIgnored, s.triedErr
	}
	svid, bundle, err := parseSVIDFiles(s.files, c, now)
	if err != nil {
		return s.failed(sum, err), err
	}
	s.current.Store(&fileSVID{svid: svid, bundle: bundle, sum: sum})
	s.failures, s.expiryLogged = 0, false
	return pollInstalled, nil
}

// failed records a failed validation of the content with digest sum.
func (s *FileSource) failed(sum [sha256.Size]byte, err error) pollResult {
	if sum != s.tried {
		s.tried, s.failures = sum, 0
	}
	s.triedErr = err
	s.failures++
	if s.failures >= 2 {
		return pollRejected
	}
	return pollPending
}

// contentSum digests the three files, each length-prefixed.
func contentSum(c svidContent) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{c.cert, c.key, c.bundle} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Files returns the paths the source watches.
func (s *FileSource) Files() SVIDFiles { return s.files }

// GetX509SVID returns the SVID currently in use.
func (s *FileSource) GetX509SVID() (*x509svid.SVID, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.current.Load().svid, nil
}

// GetX509BundleForTrustDomain returns the bundle from the bundle file if
// td is the SVID's trust domain.
func (s *FileSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	b, err := s.current.Load().bundle.GetX509BundleForTrustDomain(td)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return b, nil
}

// Updated is signalled after each reload that installs new files.
func (s *FileSource) Updated() <-chan struct{} { return s.updated }

// Close stops watching the files. It is safe to call more than once.
func (s *FileSource) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.stop()
		<-s.done
	})
	return nil
}
