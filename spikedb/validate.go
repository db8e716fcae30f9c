package spikedb

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkSecret reports whether a secret's versions agree with its metadata
// the way SPIKE keeps them: at least one version, version numbers from 1
// strictly ascending, a current version (unless 0) that exists, and an
// oldest version no later than the current one. It is applied both before
// writing and after reading.
func checkSecret(s *Secret) error {
	m := s.Metadata
	if s.Path == "" || len(s.Path) > maxNameSize {
		return fmt.Errorf("path length %d outside 1..%d", len(s.Path), maxNameSize)
	}
	if m.CurrentVersion < 0 || m.OldestVersion < 0 || m.MaxVersions < 0 {
		return fmt.Errorf("negative metadata (current %d, oldest %d, max %d)",
			m.CurrentVersion, m.OldestVersion, m.MaxVersions)
	}
	if len(s.Versions) == 0 {
		return errors.New("no versions")
	}
	if err := checkVersionOrder(s.Versions); err != nil {
		return err
	}
	if m.CurrentVersion > 0 && !hasVersion(s.Versions, m.CurrentVersion) {
		return fmt.Errorf("current version %d does not exist", m.CurrentVersion)
	}
	if m.CurrentVersion > 0 && m.OldestVersion > m.CurrentVersion {
		return fmt.Errorf("oldest version %d is after current version %d",
			m.OldestVersion, m.CurrentVersion)
	}
	return nil
}

// checkVersionOrder reports whether version numbers start at 1 or later and
// strictly ascend.
func checkVersionOrder(vs []Version) error {
	prev := 0
	for _, v := range vs {
		if v.Version <= prev {
			return fmt.Errorf("version %d out of order or below 1", v.Version)
		}
		prev = v.Version
	}
	return nil
}

// hasVersion reports whether vs, ascending, holds version n.
func hasVersion(vs []Version, n int) bool {
	for _, v := range vs {
		if v.Version == n {
			return true
		}
	}
	return false
}

// checkWritableSecret adds what only Write must check: values that JSON
// carries unchanged and times the DATETIME text can hold.
func checkWritableSecret(s *Secret) error {
	if err := checkSecret(s); err != nil {
		return err
	}
	for _, v := range s.Versions {
		if err := checkWritableVersion(&v); err != nil {
			return fmt.Errorf("version %d: %w", v.Version, err)
		}
	}
	return nil
}

// checkWritableVersion checks one version's values and times.
func checkWritableVersion(v *Version) error {
	for k, val := range v.Data {
		if !utf8.ValidString(k) || !utf8.ValidString(val) {
			return errors.New("a value or its key is not valid UTF-8") // never name it
		}
	}
	if err := checkDatetime(v.Created); err != nil {
		return fmt.Errorf("created: %w", err)
	}
	if v.Deleted != nil {
		if err := checkDatetime(*v.Deleted); err != nil {
			return fmt.Errorf("deleted: %w", err)
		}
	}
	return nil
}

// checkWritablePolicy reports whether SPIKE reads p back unchanged: a name,
// and permissions that survive joining with "," and SPIKE's trimming.
func checkWritablePolicy(p *Policy) error {
	if p.Name == "" || len(p.Name) > maxNameSize {
		return fmt.Errorf("policy name length %d outside 1..%d", len(p.Name), maxNameSize)
	}
	for _, field := range []string{p.SpiffeIDPattern, p.PathPattern, joinPermissions(p.Permissions)} {
		if len(field)+gcmTagSize > maxPolicySize {
			return fmt.Errorf("policy %q: a field exceeds %d bytes", p.Name, maxPolicySize-gcmTagSize)
		}
	}
	for _, perm := range p.Permissions {
		if perm == "" || strings.Contains(perm, ",") || strings.TrimSpace(perm) != perm {
			return fmt.Errorf("policy %q: permission %q cannot be stored", p.Name, perm)
		}
	}
	return nil
}

// checkSnapshot checks a snapshot before Write: every secret and policy,
// and unique paths and names.
func checkSnapshot(s *Snapshot) error {
	paths := make(map[string]bool, len(s.Secrets))
	for i := range s.Secrets {
		sec := &s.Secrets[i]
		if err := checkWritableSecret(sec); err != nil {
			return fmt.Errorf("%w: secret %q: %w", ErrInvalidSnapshot, abbreviate(sec.Path), err)
		}
		if paths[sec.Path] {
			return fmt.Errorf("%w: secret %q appears twice", ErrInvalidSnapshot, abbreviate(sec.Path))
		}
		paths[sec.Path] = true
	}
	names := make(map[string]bool, len(s.Policies))
	for i := range s.Policies {
		p := &s.Policies[i]
		if err := checkWritablePolicy(p); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
		}
		if names[p.Name] {
			return fmt.Errorf("%w: policy %q appears twice", ErrInvalidSnapshot, p.Name)
		}
		names[p.Name] = true
	}
	return nil
}
