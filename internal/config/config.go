package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// Parse builds the kong parser for cli (a struct with kong tags; list a
// setting's environment variables in its env tag, preferred name first),
// checks that no two names of one setting disagree, and parses args.
// lookup reads the environment (os.LookupEnv in production).
func Parse(name, description string, cli any, args []string, lookup func(string) (string, bool), opts ...kong.Option) (*kong.Context, error) {
	opts = append([]kong.Option{kong.Name(name), kong.Description(description), kong.UsageOnError()}, opts...)
	k, err := kong.New(cli, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: configuration: %w", name, err)
	}
	if err := CheckAliases(k.Model.Node, lookup); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ctx, err := k.Parse(args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ctx, nil
}

// CheckAliases reports the first flag under node whose environment
// variables are set to different values.
func CheckAliases(node *kong.Node, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	for _, group := range node.AllFlags(true) {
		for _, f := range group {
			if err := checkFlag(f, lookup); err != nil {
				return err
			}
		}
	}
	for _, child := range node.Children {
		if err := CheckAliases(child, lookup); err != nil {
			return err
		}
	}
	return nil
}

func checkFlag(f *kong.Flag, lookup func(string) (string, bool)) error {
	first, firstVal := "", ""
	for _, env := range f.Envs {
		v, ok := lookup(env)
		if !ok {
			continue
		}
		if first == "" {
			first, firstVal = env, v
			continue
		}
		if strings.TrimSpace(v) != strings.TrimSpace(firstVal) {
			return fmt.Errorf("%s=%q and %s=%q name the same setting (--%s) with different values; set only one", first, firstVal, env, v, f.Name)
		}
	}
	return nil
}

// EnvNames returns every environment variable the flags under node read,
// for documentation and tests.
func EnvNames(node *kong.Node) []string {
	var out []string
	for _, group := range node.AllFlags(true) {
		for _, f := range group {
			out = append(out, f.Envs...)
		}
	}
	return out
}
