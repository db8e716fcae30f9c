package seal

import "runtime"

// Zero overwrites b with zeros. Go may have copied the bytes elsewhere
// (the garbage collector moves nothing, but append and conversions copy),
// so this limits exposure rather than guaranteeing erasure; call it on
// every key buffer as soon as the key is no longer needed.
func Zero(b []byte) {
	clear(b)
	// Keep the store from being optimised away as dead.
	runtime.KeepAlive(b)
}

// ZeroAll zeros every buffer in bs.
func ZeroAll(bs ...[]byte) {
	for _, b := range bs {
		Zero(b)
	}
}
