package sdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/spikeledger/spike/api"
)

// ExportRequest asks for the state of every secret and policy at a point
// of the log, as a file: Format is api.ExportSpikeDB (SPIKE v0.8's
// spike.db), api.ExportProjection (spike's projection database) or
// api.ExportJSON (an api.ExportDocument). The point is AsOfSeq or
// AsOfTime, at most one of them; neither means now. WithValues puts the
// values, in clear, in a JSON export; the file formats always hold them,
// sealed under the root key (spike.db) or a key derived from it
// (projection). Only the pilot superuser may export.
type ExportRequest struct {
	Format     string
	AsOfSeq    uint64
	AsOfTime   time.Time
	WithValues bool
}

// ExportResult describes an export written.
type ExportResult struct {
	AsOfSeq                     uint64
	AsOfTime                    time.Time
	Size                        int64
	Secrets, Versions, Policies int
}

// ExportProgress hears, after each chunk, how many bytes of the export
// have arrived out of total; total is 0 while Nexus is still building
// it.
type ExportProgress func(done, total int64)

// exportPoll bounds the wait between asks while Nexus builds an export.
const (
	exportPollFirst = 100 * time.Millisecond
	exportPollMax   = 2 * time.Second
)

// Export has Nexus build the export and writes it to w, chunk by chunk,
// checking its size and SHA-256 at the end: a caller writing to a file
// must discard it if Export fails. progress, if not nil, hears of each
// chunk.
func (c *Client) Export(ctx context.Context, r ExportRequest, w io.Writer, progress ExportProgress) (*ExportResult, error) {
	req := api.ExportStartRequest{Format: r.Format, AsOfSeq: r.AsOfSeq, WithValues: r.WithValues}
	if !r.AsOfTime.IsZero() {
		t := r.AsOfTime
		req.AsOfTime = &t
	}
	var start api.ExportStartResponse
	if err := c.call(ctx, "", req, &start); err != nil {
		return nil, err
	}
	res := &ExportResult{AsOfSeq: start.AsOfSeq, AsOfTime: start.AsOfTime}
	h := sha256.New()
	var want []byte
	wait := exportPollFirst
	for done := false; !done; {
		var chunk api.ExportGetResponse
		if err := c.call(ctx, "", api.ExportGetRequest{ID: start.ID, Offset: res.Size}, &chunk); err != nil {
			return nil, err
		}
		if !chunk.Ready {
			if progress != nil {
				progress(0, 0)
			}
			select {
			case <-ctx.Done():
				return nil, &Error{Op: api.OpExportGet, Err: ctx.Err()}
			case <-time.After(wait):
			}
			wait = min(2*wait, exportPollMax)
			continue
		}
		if len(chunk.Data) > api.MaxExportChunk || res.Size+int64(len(chunk.Data)) > chunk.Size || (len(chunk.Data) == 0 && !chunk.EOF) {
			return nil, &Error{Op: api.OpExportGet, Err: fmt.Errorf("%w: a chunk of %d bytes at %d of %d", ErrBadAnswer, len(chunk.Data), res.Size, chunk.Size)}
		}
		if _, err := w.Write(chunk.Data); err != nil {
			return nil, fmt.Errorf("sdk: write the export: %w", err)
		}
		h.Write(chunk.Data)
		clear(chunk.Data) // a JSON export with values holds them in clear
		res.Size += int64(len(chunk.Data))
		res.Secrets, res.Versions, res.Policies, want = chunk.Secrets, chunk.Versions, chunk.Policies, chunk.SHA256
		if progress != nil {
			progress(res.Size, chunk.Size)
		}
		done = chunk.EOF
		if done && res.Size != chunk.Size {
			return nil, &Error{Op: api.OpExportGet, Err: fmt.Errorf("%w: the export ended at %d bytes of %d", ErrBadAnswer, res.Size, chunk.Size)}
		}
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return nil, &Error{Op: api.OpExportGet, Err: fmt.Errorf("%w: the export's SHA-256 does not match what Nexus sent", ErrBadAnswer)}
	}
	return res, nil
}
