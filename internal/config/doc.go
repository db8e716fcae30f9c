// Package config parses the command line and environment of every spike
// binary with kong, so that each setting is one flag that also reads its
// environment variables: the name in the overview's configuration summary
// first, then SPIKE v0.8's name for the same setting as an alias. A
// deployment written for either works unchanged.
//
// Two names of one setting that are both set to different values stop the
// binary at start with one line naming both, rather than one silently
// winning; so does a malformed value.
package config
