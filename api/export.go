package api

import (
	"fmt"
	"time"
)

// An export is the state of every secret and policy at one point of the
// log, as a file: a SPIKE v0.8 spike.db, a projection SQLite database, or
// a JSON document. Nexus builds the file in the background
// (OpExportStart) and the caller fetches it in chunks (OpExportGet), so
// neither a large export nor a long replay meets a request's time or
// size limits. Only the superuser may export: an export holds every
// secret.

// The export formats.
const (
	// ExportSpikeDB is SPIKE v0.8's spike.db: values sealed under the
	// root key (SPIKE's format), which a SPIKE v0.8 Nexus with the same
	// root key serves.
	ExportSpikeDB = "spike-db"
	// ExportProjection is spike's own projection database (SQLite):
	// values sealed under a key derived from the root key.
	ExportProjection = "projection"
	// ExportJSON is an [ExportDocument]: values only when asked.
	ExportJSON = "json"
)

// ExportFormats lists the formats, for messages and flags.
func ExportFormats() []string { return []string{ExportSpikeDB, ExportProjection, ExportJSON} }

// MaxExportChunk bounds the data of one [ExportGetResponse]: 4 MiB, which
// in base64 stays well inside a client's response limit.
const MaxExportChunk = 4 << 20

// ExportStartRequest starts an export (OpExportStart, extension) of the
// state at sequence number AsOfSeq or at time AsOfTime (at most one of
// them; neither means now).
type ExportStartRequest struct {
	Format   string     `json:"format"`
	AsOfSeq  uint64     `json:"asOfSeq,omitempty"`
	AsOfTime *time.Time `json:"asOfTime,omitempty"`
	// WithValues puts the values, in clear, in a JSON export. The file
	// formats always hold them, sealed.
	WithValues bool `json:"withValues,omitempty"`
}

// ExportStartResponse answers OpExportStart: the export's id, for
// OpExportGet, and the point it is of.
type ExportStartResponse struct {
	ID       string    `json:"id"`
	AsOfSeq  uint64    `json:"asOfSeq"`
	AsOfTime time.Time `json:"asOfTime"`
	Err      ErrorCode `json:"err,omitempty"`
}

// ExportGetRequest fetches the chunk of export ID that starts at byte
// Offset (OpExportGet, extension).
type ExportGetRequest struct {
	ID     string `json:"id"`
	Offset int64  `json:"offset"`
}

// ExportGetResponse answers OpExportGet. Until the file is built, Ready
// is false and nothing else is set: ask again. Then Data is the file from
// the offset asked for, at most MaxExportChunk bytes, Size the whole
// file's size and SHA256 its digest; EOF marks the last chunk, after
// which Nexus forgets the export.
type ExportGetResponse struct {
	Ready    bool      `json:"ready"`
	Size     int64     `json:"size,omitempty"`
	SHA256   []byte    `json:"sha256,omitempty"`
	Secrets  int       `json:"secrets,omitempty"`
	Versions int       `json:"versions,omitempty"`
	Policies int       `json:"policies,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	EOF      bool      `json:"eof,omitempty"`
	Err      ErrorCode `json:"err,omitempty"`
}

// ExportDocument is the JSON export format.
type ExportDocument struct {
	// Format is always "spike-export"; Version 1.
	Format   string         `json:"format"`
	Version  int            `json:"version"`
	AsOfSeq  uint64         `json:"asOfSeq"`
	AsOfTime time.Time      `json:"asOfTime"`
	Values   bool           `json:"values"`
	Secrets  []ExportSecret `json:"secrets"`
	Policies []ExportPolicy `json:"policies"`
}

// ExportDocumentFormat names an [ExportDocument].
const ExportDocumentFormat = "spike-export"

// ExportSecret is one path of an [ExportDocument].
type ExportSecret struct {
	Path               string            `json:"path"`
	CurrentVersion     int               `json:"currentVersion"`
	OldestVersion      int               `json:"oldestVersion"`
	MaxVersions        int               `json:"maxVersions"`
	Created            time.Time         `json:"createdTime"`
	Updated            time.Time         `json:"updatedTime"`
	CASRequired        bool              `json:"casRequired,omitempty"`
	DeleteVersionAfter string            `json:"deleteVersionAfter,omitempty"`
	CustomMetadata     map[string]string `json:"customMetadata,omitempty"`
	Versions           []ExportVersion   `json:"versions"`
}

// ExportVersion is one version of an [ExportSecret]: its keys always,
// its data only in an export asked for with values.
type ExportVersion struct {
	Version   int               `json:"version"`
	Created   time.Time         `json:"createdTime"`
	Deleted   *time.Time        `json:"deletedTime"`
	Destroyed bool              `json:"destroyed,omitempty"`
	Keys      []string          `json:"keys,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
}

// ExportPolicy is one policy of an [ExportDocument].
type ExportPolicy struct {
	Name            string    `json:"name"`
	SpiffeIDPattern string    `json:"spiffeidPattern"`
	PathPattern     string    `json:"pathPattern"`
	Permissions     []string  `json:"permissions"`
	Created         time.Time `json:"createdTime"`
	Updated         time.Time `json:"updatedTime"`
}

// Op returns OpExportStart.
func (ExportStartRequest) Op() Op { return OpExportStart }

// Validate checks the format and the point.
func (r ExportStartRequest) Validate() error {
	switch r.Format {
	case ExportSpikeDB, ExportProjection:
		if r.WithValues {
			return invalid("withValues", fmt.Sprintf("a %s export always holds the values, sealed; withValues is for the json format", r.Format))
		}
	case ExportJSON:
	case "":
		return invalid("format", fmt.Sprintf("missing: one of %q", ExportFormats()))
	default:
		return invalid("format", fmt.Sprintf("unknown: want one of %q", ExportFormats()))
	}
	if r.AsOfSeq != 0 && r.AsOfTime != nil {
		return invalid("asOfSeq", `give at most one of "asOfSeq" and "asOfTime"`)
	}
	return nil
}

// Op returns OpExportGet.
func (ExportGetRequest) Op() Op { return OpExportGet }

// maxExportID bounds an export id: Nexus makes ULIDs (26 characters).
const maxExportID = 64

// Validate checks the id and the offset.
func (r ExportGetRequest) Validate() error {
	if r.ID == "" || len(r.ID) > maxExportID {
		return invalid("id", "missing or too long: give the id export start answered")
	}
	if r.Offset < 0 {
		return invalid("offset", "negative")
	}
	return nil
}
