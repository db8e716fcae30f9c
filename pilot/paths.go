package pilot

import "github.com/spikeledger/spike/api"

// Secret paths are checked when the command line is parsed (kong calls
// Validate on the selected command), by the rules Nexus and the SDK
// apply: a path such as "/a/b" is a usage error said at once, before the
// command waits for its SVID or Nexus. Commands that only reach what is
// stored (read, delete, undelete, destroy, metadata get and delete,
// restore) pass such a path on: it may be a legacy path, stored before
// the rule, which only Nexus knows (api.StoredPathsRequest).

// newPath is the rule of a path a new version is written to; storedPath
// that of one that names what is stored.
func newPath(p string) error    { return api.ValidateSecretPath(p) }
func storedPath(p string) error { return api.ValidateStoredSecretPath(p) }

func (c *secretPutCmd) Validate() error            { return checkPaths(newPath, c.Path) }
func (c *secretGetCmd) Validate() error            { return checkPaths(storedPath, c.Path) }
func (c *secretDeleteCmd) Validate() error         { return checkPaths(storedPath, c.Path) }
func (c *secretUndeleteCmd) Validate() error       { return checkPaths(storedPath, c.Path) }
func (c *secretDestroyCmd) Validate() error        { return checkPaths(storedPath, c.Path) }
func (c *secretMetadataGetCmd) Validate() error    { return checkPaths(storedPath, c.Path) }
func (c *secretMetadataPutCmd) Validate() error    { return checkPaths(newPath, c.Path) }
func (c *secretMetadataDeleteCmd) Validate() error { return checkPaths(storedPath, c.Path) }
func (c *secretPatchCmd) Validate() error          { return checkPaths(newPath, c.Path) }
func (c *secretRollbackCmd) Validate() error       { return checkPaths(newPath, c.Path) }
func (c *restoreApplyCmd) Validate() error         { return checkPaths(storedPath, c.Paths...) }

// checkPaths applies rule to each path given. A missing one ("") is left
// to kong, which names the argument (it validates before it checks that
// required arguments are there), and to the SDK.
func checkPaths(rule func(string) error, paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := rule(p); err != nil {
			return usagef("%s", invalidText(err))
		}
	}
	return nil
}
