package testarchive

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Serve serves dir over HTTP for the duration of the test and returns the
// base URL (no trailing slash), usable as a mirror. The server is closed at
// t.Cleanup.
func Serve(t testing.TB, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// CorruptFile flips one byte in the middle of dir/rel, keeping its size, so
// only a checksum or signature check can notice.
func CorruptFile(dir, rel string) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("corrupting %s: %w", rel, err)
	}
	if len(b) == 0 {
		return fmt.Errorf("corrupting %s: file is empty", rel)
	}
	b[len(b)/2] ^= 0x55
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("corrupting %s: %w", rel, err)
	}
	return nil
}

// TruncateFile cuts dir/rel to size bytes (a negative size removes that
// many bytes from the end).
func TruncateFile(dir, rel string, size int64) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("truncating %s: %w", rel, err)
	}
	if size < 0 {
		size += st.Size()
	}
	if size < 0 || size > st.Size() {
		return fmt.Errorf("truncating %s: size %d outside 0..%d", rel, size, st.Size())
	}
	if err := os.Truncate(p, size); err != nil {
		return fmt.Errorf("truncating %s: %w", rel, err)
	}
	return nil
}

// RemoveFile deletes dir/rel (e.g. dists/<codename>/Release.gpg).
func RemoveFile(dir, rel string) error {
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		return fmt.Errorf("removing %s: %w", rel, err)
	}
	return nil
}

// ReplaceFile overwrites dir/rel with body (e.g. a Release edited after
// signing).
func ReplaceFile(dir, rel string, body []byte) error {
	return writeFile(dir, rel, body)
}
