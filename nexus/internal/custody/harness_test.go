package custody

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/nexus/internal/testcluster"
)

// cluster is testcluster's keepers, with custody's own helpers.
type cluster struct{ *testcluster.Cluster }

func newCluster(t testing.TB, keepers int) *cluster { return &cluster{testcluster.New(t, keepers)} }

// contributeNewKey does spike-bootstrap's part: it gives every keeper
// its shard of a new root key (threshold of them rebuild it) and
// returns the verification request Bootstrap then sends Nexus.
func (c *cluster) contributeNewKey(t testing.TB, threshold int) api.BootstrapVerifyRequest {
	t.Helper()
	var key [32]byte
	rand.Read(key[:])
	key[0] &= 0x7f
	shares, _, err := shamir.Split(&key, shamir.Params{Shares: len(c.Keepers), Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	bc := c.Client("/spike/bootstrap", c.Roles.IsKeeper)
	for i, url := range c.Keepers {
		c.Contribute(bc, url, shares[i].Value)
	}
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return api.BootstrapVerifyRequest{Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, []byte("verify"), nil)}
}
