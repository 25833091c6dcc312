// Package sshkey generates SSH keys deterministically from an explicit seed
// and encodes them in the formats the OpenSSH of each Debian suite reads.
//
// Every key is a pure function of a 32-byte Seed: the same seed gives the
// same bytes on every machine and Go version, because the package draws
// candidates from a ChaCha8 stream and does its own RSA and DSA parameter
// generation (since Go 1.26, crypto/rsa and friends ignore the caller's
// io.Reader). The seed is the caller's secret: a key derived from a public
// value is a public key. Callers take it from crypto/rand unless the user
// asked for a reproducible run.
//
// Supported:
//   - RSA (e = 65537), DSA (1024/160, the only size OpenSSH accepts),
//     ECDSA P-256 and Ed25519;
//   - private keys as PEM "RSA PRIVATE KEY" (PKCS#1), "DSA PRIVATE KEY"
//     (OpenSSL's SEQUENCE{0, p, q, g, y, x}) and "EC PRIVATE KEY" (SEC 1) for
//     OpenSSH before 6.5, and as unencrypted "openssh-key-v1" (PROTOCOL.key)
//     for all four types;
//   - public keys in authorized_keys / .pub form, SHA256 and MD5
//     fingerprints as ssh-keygen -l prints them.
//
// Not supported: encrypted private keys, protocol-1 RSA1 keys (sarge's
// ssh_host_key: sshd runs protocol 2 only without it and logs a warning),
// ECDSA on P-384/P-521, certificates.
package sshkey
