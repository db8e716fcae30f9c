// Package testdisk gives tests a small filesystem to fill for real, so
// that the code under test meets ENOSPC from the kernel rather than from
// a mock: a size-limited tmpfs, or ext4 in an image on a loop device.
// Mounting needs root and a kernel that allows it; where it cannot be
// done the test is skipped with one line saying why. Only tests import
// this package.
package testdisk
