// Package fetch downloads files over http(s):// or reads them from file://
// URLs, verifies their size and checksum, and keeps a content-addressed
// cache so that a second run, or an offline run, needs no network.
//
// Verified files live in CacheDir/by-hash/ALGO/HEX, where ALGO is the
// strongest sum the caller knows (SHA256, SHA1 or MD5Sum, spelled as in
// Release files) and HEX its value. Every use of a cached file re-checks
// its size and sum; a corrupt entry is deleted and downloaded again.
// Files that cannot be verified by a sum (InRelease, Release, Release.gpg,
// whose signature the caller checks) are stored by URL under
// CacheDir/url/HOST/PATH for offline use, and downloaded afresh online.
//
// Downloads are written to a temporary file in the cache and renamed into
// place only after verification, so a cache never holds a partial file
// under a final name. Transient failures (HTTP 5xx, 408, 429, connection
// resets, truncated bodies) are retried with exponential backoff; 404 and
// other client errors are not. file:// sources are verified in place and
// not copied.
//
// Not supported: HTTP proxies beyond what the http.Client does, resuming
// partial downloads, by-hash URLs on the mirror, mirror fallback lists.
package fetch
