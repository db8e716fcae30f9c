//go:build linux

package system

// NexusOpsAddr returns the address of Nexus's plain-HTTP operations
// listener (/healthz, /readyz, /metrics), host:port.
func (d *Deployment) NexusOpsAddr() string { return d.nexusOps }

// KeeperOpsAddr returns the address of keeper n's plain-HTTP operations
// listener, host:port; n is from 1.
func (d *Deployment) KeeperOpsAddr(n int) string { return d.keepers[n-1].opsAddr }

// KeeperOpsAddrs returns every keeper's operations address, keeper 1
// first.
func (d *Deployment) KeeperOpsAddrs() []string {
	addrs := make([]string, len(d.keepers))
	for i, k := range d.keepers {
		addrs[i] = k.opsAddr
	}
	return addrs
}
