// Package e2e holds end-to-end tests that run the xenimg binary the way a
// user does, against the real Debian archive, and judge what it makes with
// e2fsck, a kernel mount, dpkg in a chroot and a qemu boot.
package e2e
