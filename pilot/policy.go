package pilot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

type policyCmd struct {
	Create policyCreateCmd `cmd:"" help:"Create a policy; fails if one with that name exists."`
	Apply  policyApplyCmd  `cmd:"" help:"Create or replace a policy, from a YAML file or flags."`
	Get    policyGetCmd    `cmd:"" help:"Print a policy."`
	List   policyListCmd   `cmd:"" help:"List policy names."`
	Delete policyDeleteCmd `cmd:"" help:"Delete a policy."`
}

// policyDoc is the JSON document of `spike policy get` (with the times),
// and of create and apply (without them). The SPIFFE ID pattern's key is
// spelt as in the request and the policy file, not as SPIKE's response
// misspells it.
type policyDoc struct {
	Name            string    `json:"name"`
	SPIFFEIDPattern string    `json:"spiffeidPattern"`
	PathPattern     string    `json:"pathPattern"`
	Permissions     []string  `json:"permissions"`
	CreatedAt       time.Time `json:"createdAt,omitzero"`
	UpdatedAt       time.Time `json:"updatedAt,omitzero"`
}

func (d policyDoc) human(w io.Writer) error {
	t := table(w)
	fmt.Fprintf(t, "name\t%s\n", oneLine(d.Name))
	fmt.Fprintf(t, "spiffeid pattern\t%s\n", oneLine(d.SPIFFEIDPattern))
	fmt.Fprintf(t, "path pattern\t%s\n", oneLine(d.PathPattern))
	fmt.Fprintf(t, "permissions\t%s\n", oneLine(strings.Join(d.Permissions, ", ")))
	if !d.CreatedAt.IsZero() {
		fmt.Fprintf(t, "created\t%s\n", humanTime(d.CreatedAt))
		fmt.Fprintf(t, "updated\t%s\n", humanTime(d.UpdatedAt))
	}
	return t.Flush()
}

// policy is the policy to send. Its permissions are checked here, so
// that a typo is named with the valid ones (from, "--permissions" or
// "the policy file F", says where it was): a usage error, nothing sent.
func (d policyDoc) policy(from string) (sdk.Policy, error) {
	perms := make([]api.Permission, len(d.Permissions))
	for i, p := range d.Permissions {
		perms[i] = api.Permission(strings.TrimSpace(p))
		if !perms[i].Valid() {
			return sdk.Policy{}, usagef("%s: %q is not a permission: want %s", from, p, validPermissions)
		}
	}
	return sdk.Policy{Name: d.Name, SPIFFEIDPattern: d.SPIFFEIDPattern, PathPattern: d.PathPattern, Permissions: perms}, nil
}

// validPermissions lists every permission, as errors show them.
const validPermissions = "read, write, list, execute, admin or super"

func docOf(p *sdk.Policy) policyDoc {
	perms := make([]string, len(p.Permissions))
	for i, x := range p.Permissions {
		perms[i] = string(x)
	}
	return policyDoc{Name: p.Name, SPIFFEIDPattern: p.SPIFFEIDPattern, PathPattern: p.PathPattern, Permissions: perms,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

type policyCreateCmd struct {
	Name            string   `name:"name" required:"" help:"Policy name."`
	SPIFFEIDPattern string   `name:"spiffeid-pattern" required:"" help:"RE2 pattern of the SPIFFE IDs it grants, such as ^spiffe://spike\\.ist/workload/web$."`
	PathPattern     string   `name:"path-pattern" required:"" help:"RE2 pattern of the secret paths, such as ^tenants/web/.*$."`
	Permissions     []string `name:"permissions" required:"" sep:"," help:"Comma-separated: read, write, list, execute, admin, super."`
}

func (c *policyCreateCmd) Run(e *env) error {
	doc := policyDoc{Name: c.Name, SPIFFEIDPattern: c.SPIFFEIDPattern, PathPattern: c.PathPattern, Permissions: c.Permissions}
	p, err := doc.policy("--permissions")
	if err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	_, err = client.GetPolicy(e.ctx, c.Name)
	switch {
	case err == nil:
		return fmt.Errorf("policy %q already exists: spike policy apply replaces it", c.Name)
	case !errors.Is(err, sdk.ErrNotFound):
		return err
	}
	if err := client.PutPolicy(e.ctx, p); err != nil {
		return err
	}
	return e.print(doc, okLine(fmt.Sprintf("Policy %q created.", c.Name)))
}

type policyApplyCmd struct {
	File            string   `name:"file" type:"path" help:"A policy in YAML (SPIKE's format: name, spiffeidPattern, pathPattern, permissions) or JSON; - reads standard input. What policy get -f yaml|json prints applies as it is: its read-only fields (createdAt, updatedAt, id) are ignored."`
	Name            string   `name:"name" help:"Policy name (without --file)."`
	SPIFFEIDPattern string   `name:"spiffeid-pattern" help:"RE2 pattern of the SPIFFE IDs it grants (without --file)."`
	PathPattern     string   `name:"path-pattern" help:"RE2 pattern of the secret paths (without --file)."`
	Permissions     []string `name:"permissions" sep:"," help:"Comma-separated permissions (without --file)."`
}

func (c *policyApplyCmd) Run(e *env) error {
	doc, err := c.spec(e.in)
	if err != nil {
		return err
	}
	from := "--permissions"
	if c.File != "" {
		from = "the policy file " + c.File
	}
	p, err := doc.policy(from)
	if err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	if err := client.PutPolicy(e.ctx, p); err != nil {
		return err
	}
	return e.print(doc, okLine(fmt.Sprintf("Policy %q applied.", doc.Name)))
}

// spec is the policy from --file or from the four flags, not both.
func (c *policyApplyCmd) spec(stdin io.Reader) (policyDoc, error) {
	flags := c.Name != "" || c.SPIFFEIDPattern != "" || c.PathPattern != "" || len(c.Permissions) > 0
	switch {
	case c.File != "" && flags:
		return policyDoc{}, usagef("give --file or the policy's flags, not both")
	case c.File == "":
		if c.Name == "" || c.SPIFFEIDPattern == "" || c.PathPattern == "" || len(c.Permissions) == 0 {
			return policyDoc{}, usagef("give --file, or all of --name, --spiffeid-pattern, --path-pattern and --permissions")
		}
		return policyDoc{Name: c.Name, SPIFFEIDPattern: c.SPIFFEIDPattern, PathPattern: c.PathPattern, Permissions: c.Permissions}, nil
	}
	var b []byte
	var err error
	if c.File == "-" {
		b, err = readAtMost(stdin, maxPolicyFile, "the policy on standard input")
	} else {
		b, err = readPolicyFile(c.File)
	}
	if err != nil {
		return policyDoc{}, err
	}
	s, err := parsePolicySpec(b)
	if err != nil {
		return policyDoc{}, usagef("%s: %v", c.File, err)
	}
	return policyDoc{Name: s.Name, SPIFFEIDPattern: s.SPIFFEIDPattern, PathPattern: s.PathPattern, Permissions: s.Permissions}, nil
}

func readPolicyFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	defer f.Close()
	return readAtMost(f, maxPolicyFile, "the policy file "+name)
}

// policyRef names a policy as SPIKE does: an argument or --name.
type policyRef struct {
	Arg  string `arg:"" optional:"" name:"name" help:"Policy name."`
	Name string `name:"name" help:"Policy name (SPIKE's flag form)."`
}

func (r policyRef) name() (string, error) {
	switch {
	case r.Arg == "" && r.Name == "":
		return "", usagef("name the policy: an argument or --name")
	case r.Arg != "" && r.Name != "" && r.Arg != r.Name:
		return "", usagef("the argument and --name name different policies")
	case r.Arg != "":
		return r.Arg, nil
	}
	return r.Name, nil
}

type policyGetCmd struct {
	policyRef
}

func (c *policyGetCmd) Run(e *env) error {
	name, err := c.name()
	if err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	p, err := client.GetPolicy(e.ctx, name)
	if err != nil {
		return err
	}
	doc := docOf(p)
	return e.print(doc, doc.human)
}

type policyListCmd struct {
	PathPattern     string `name:"path-pattern" xor:"filter" help:"Only policies whose path pattern is exactly this."`
	SPIFFEIDPattern string `name:"spiffeid-pattern" xor:"filter" help:"Only policies whose SPIFFE ID pattern is exactly this."`
}

func (c *policyListCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	names, err := client.ListPolicies(e.ctx, sdk.PolicyFilter{SPIFFEIDPattern: c.SPIFFEIDPattern, PathPattern: c.PathPattern})
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return e.print(names, func(w io.Writer) error {
		if len(names) == 0 {
			_, err := fmt.Fprintln(w, "No policies found.")
			return err
		}
		for _, n := range names {
			if _, err := fmt.Fprintln(w, oneLine(n)); err != nil {
				return err
			}
		}
		return nil
	})
}

type policyDeleteCmd struct {
	policyRef
	Yes bool `name:"yes" short:"y" help:"Do not ask for confirmation."`
}

// policyDeleted is the JSON document of `spike policy delete`.
type policyDeleted struct {
	Name string `json:"name"`
}

func (c *policyDeleteCmd) Run(e *env) error {
	name, err := c.name()
	if err != nil {
		return err
	}
	if err := e.confirm(fmt.Sprintf("Delete policy %q? The workloads it grants lose that access.", name), c.Yes); err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	if err := client.DeletePolicy(e.ctx, name); err != nil {
		return err
	}
	return e.print(policyDeleted{Name: name}, okLine(fmt.Sprintf("Policy %q deleted.", name)))
}
