package api

import "net/http"

// Content types. A cipher request is in stream mode when its Content-Type
// is exactly ContentTypeStream (no parameters, no case folding); any other
// value means JSON mode.
const (
	ContentTypeJSON   = "application/json"
	ContentTypeStream = "application/octet-stream"
	ContentTypeText   = "text/plain; charset=utf-8" // stream-mode cipher errors
	// ContentTypeNDJSON is a stream of JSON lines (OpAuditTail).
	ContentTypeNDJSON = "application/x-ndjson"
)

// SetJSONHeaders sets the headers SPIKE puts on every JSON response: the
// content type and the directives that keep secrets out of caches.
func SetJSONHeaders(h http.Header) {
	h.Set("Content-Type", ContentTypeJSON)
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, private")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
}

// IsStreamMode reports whether a cipher request with the given
// Content-Type header is in stream mode.
func IsStreamMode(contentType string) bool { return contentType == ContentTypeStream }
