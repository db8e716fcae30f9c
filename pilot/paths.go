package pilot

import "github.com/spikeledger/spike/api"

// Secret paths are checked when the command line is parsed (kong calls
// Validate on the selected command), by the rule Nexus and the SDK
// apply (api.ValidateSecretPath): a path such as "/a/b" is a usage error
// said at once, before the command waits for its SVID or Nexus.

func (c *secretPutCmd) Validate() error            { return checkPaths(c.Path) }
func (c *secretGetCmd) Validate() error            { return checkPaths(c.Path) }
func (c *secretDeleteCmd) Validate() error         { return checkPaths(c.Path) }
func (c *secretUndeleteCmd) Validate() error       { return checkPaths(c.Path) }
func (c *secretDestroyCmd) Validate() error        { return checkPaths(c.Path) }
func (c *secretMetadataGetCmd) Validate() error    { return checkPaths(c.Path) }
func (c *secretMetadataPutCmd) Validate() error    { return checkPaths(c.Path) }
func (c *secretMetadataDeleteCmd) Validate() error { return checkPaths(c.Path) }
func (c *secretPatchCmd) Validate() error          { return checkPaths(c.Path) }
func (c *secretRollbackCmd) Validate() error       { return checkPaths(c.Path) }
func (c *restoreApplyCmd) Validate() error         { return checkPaths(c.Paths...) }

// checkPaths applies the API's path rule to each path given. A missing
// one ("") is left to kong, which names the argument (it validates
// before it checks that required arguments are there), and to the SDK.
func checkPaths(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := api.ValidateSecretPath(p); err != nil {
			return usagef("%s", invalidText(err))
		}
	}
	return nil
}
