package fetch

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func sumOf(b []byte) Sum {
	s := sha256.Sum256(b)
	return Sum{Size: int64(len(b)), SHA256: hex.EncodeToString(s[:])}
}

// server serves files by path; fail[path] counts requests to answer with a
// failure first.
type server struct {
	mu      sync.Mutex
	files   map[string][]byte
	fail    map[string]int
	failAs  int // HTTP status for failures; 0 = truncated body
	hits    map[string]int
	active  atomic.Int32
	maxSeen atomic.Int32
	block   chan struct{} // if set, handlers wait on it
}

func newServer(t *testing.T) (*server, string) {
	s := &server{files: map[string][]byte{}, fail: map[string]int{}, hits: map[string]int{}, failAs: http.StatusServiceUnavailable}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.active.Add(1)
	defer s.active.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	s.hits[r.URL.Path]++
	body, ok := s.files[r.URL.Path]
	failing := s.fail[r.URL.Path] > 0
	if failing {
		s.fail[r.URL.Path]--
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if failing {
		if s.failAs != 0 {
			http.Error(w, "try later", s.failAs)
			return
		}
		// Announce the full length, send half, hang up.
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		if hj, ok := w.(http.Hijacker); ok {
			c, _, _ := hj.Hijack()
			c.Close()
		}
		return
	}
	w.Write(body)
}

func (s *server) hitCount(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

func newFetcher(t *testing.T, o Options) *Fetcher {
	t.Helper()
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	o.Backoff = time.Millisecond
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var payload = bytes.Repeat([]byte("Package: hello\nVersion: 1.0\n\n"), 1000)

func TestRetryTransient(t *testing.T) {
	for _, failAs := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, 0} {
		t.Run(fmt.Sprint(failAs), func(t *testing.T) {
			s, base := newServer(t)
			s.failAs = failAs
			s.files["/a"] = payload
			s.fail["/a"] = 2
			f := newFetcher(t, Options{})
			b, err := f.Bytes(context.Background(), base+"/a", sumOf(payload))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, payload) {
				t.Error("content differs")
			}
			if got := s.hitCount("/a"); got != 3 {
				t.Errorf("%d requests, want 3 (two failures, one success)", got)
			}
		})
	}
}

func TestGiveUp(t *testing.T) {
	s, base := newServer(t)
	s.files["/a"] = payload
	s.fail["/a"] = 10
	f := newFetcher(t, Options{Attempts: 3})
	_, err := f.Bytes(context.Background(), base+"/a", sumOf(payload))
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") || !strings.Contains(err.Error(), base+"/a") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %v", err)
	}
	if got := s.hitCount("/a"); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}
}

func TestNotFoundNotRetried(t *testing.T) {
	s, base := newServer(t)
	f := newFetcher(t, Options{})
	_, err := f.File(context.Background(), base+"/dists/nosuch/Release", sumOf(payload))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
	if err == nil || !strings.Contains(err.Error(), "GET "+base+"/dists/nosuch/Release: 404 Not Found") {
		t.Errorf("error %v", err)
	}
	if got := s.hitCount("/dists/nosuch/Release"); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	_, err = f.Unverified(context.Background(), base+"/dists/nosuch/InRelease")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Unverified: %v", err)
	}
}

func TestChecksumMismatch(t *testing.T) {
	s, base := newServer(t)
	s.files["/a"] = payload
	cache := t.TempDir()
	f := newFetcher(t, Options{CacheDir: cache})
	bad := sumOf(payload)
	bad.SHA256 = strings.Repeat("0", 64)
	_, err := f.File(context.Background(), base+"/a", bad)
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Algorithm != "SHA256" || !strings.Contains(err.Error(), base+"/a: SHA256 mismatch: want 0000") {
		t.Errorf("error %v", err)
	}
	if got := s.hitCount("/a"); got != 1 {
		t.Errorf("%d requests: a full-size sum mismatch must not be retried", got)
	}
	short := sumOf(payload)
	short.Size--
	_, err = f.File(context.Background(), base+"/a", short)
	if !errors.As(err, &ce) || ce.Algorithm != "size" {
		t.Errorf("oversized body: %v", err)
	}
	// Nothing half-written is left behind.
	var left []string
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("cache holds %v after failed downloads", left)
	}
}

func TestAlgorithms(t *testing.T) {
	s, base := newServer(t)
	s.files["/a"] = payload
	m := md5.Sum(payload)
	h1 := sha1.Sum(payload)
	f := newFetcher(t, Options{})
	for _, sum := range []Sum{
		{Size: int64(len(payload)), MD5: hex.EncodeToString(m[:])},
		{Size: int64(len(payload)), SHA1: strings.ToUpper(hex.EncodeToString(h1[:]))},
	} {
		p, err := f.File(context.Background(), base+"/a", sum)
		if err != nil {
			t.Fatalf("%+v: %v", sum, err)
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, payload) {
			t.Errorf("%s: content differs", p)
		}
	}
	wrong := Sum{Size: int64(len(payload)), MD5: strings.Repeat("a", 32)}
	if _, err := f.File(context.Background(), base+"/a", wrong); err == nil || !strings.Contains(err.Error(), "MD5Sum mismatch") {
		t.Errorf("bad MD5: %v", err)
	}
	if _, err := f.File(context.Background(), base+"/a", Sum{Size: 3}); !errors.Is(err, ErrNoSum) {
		t.Errorf("no sum: %v", err)
	}
}

func TestCorruptCacheRefetched(t *testing.T) {
	s, base := newServer(t)
	s.files["/a"] = payload
	f := newFetcher(t, Options{})
	p, err := f.File(context.Background(), base+"/a", sumOf(payload))
	if err != nil {
		t.Fatal(err)
	}
	// Cached: no second request.
	if _, err := f.File(context.Background(), base+"/a", sumOf(payload)); err != nil || s.hitCount("/a") != 1 {
		t.Fatalf("second fetch: %v, %d requests", err, s.hitCount("/a"))
	}
	for _, corrupt := range []func() error{
		func() error { // flip a byte, same size
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			return os.WriteFile(p, b, 0o644)
		},
		func() error { return os.Truncate(p, 10) },
	} {
		if err := corrupt(); err != nil {
			t.Fatal(err)
		}
		before := s.hitCount("/a")
		b, err := f.Bytes(context.Background(), base+"/a", sumOf(payload))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, payload) || s.hitCount("/a") != before+1 {
			t.Errorf("corrupt entry not refetched (%d requests)", s.hitCount("/a")-before)
		}
		if onDisk, _ := os.ReadFile(p); !bytes.Equal(onDisk, payload) {
			t.Error("cache entry not repaired")
		}
	}
}

func TestOffline(t *testing.T) {
	s, base := newServer(t)
	other := []byte("other file\n")
	s.files["/a"] = payload
	s.files["/b"] = other
	s.files["/InRelease"] = []byte("signed\n")
	cache := t.TempDir()
	on := newFetcher(t, Options{CacheDir: cache})
	if _, err := on.File(context.Background(), base+"/a", sumOf(payload)); err != nil {
		t.Fatal(err)
	}
	if _, err := on.Unverified(context.Background(), base+"/InRelease"); err != nil {
		t.Fatal(err)
	}
	hits := s.hitCount("/a") + s.hitCount("/InRelease")

	off := newFetcher(t, Options{CacheDir: cache, Offline: true})
	_, err := off.Files(context.Background(), []Request{
		{base + "/a", sumOf(payload)},
		{base + "/b", sumOf(other)},
		{base + "/c", sumOf([]byte("c"))},
	})
	var me *MissingError
	if !errors.As(err, &me) || len(me.URLs) != 2 || me.URLs[0] != base+"/b" || me.URLs[1] != base+"/c" {
		t.Fatalf("error %v, want the two missing URLs", err)
	}
	if !strings.Contains(err.Error(), "offline, 2 file(s) not in cache "+cache) {
		t.Errorf("message %q", err)
	}
	paths, err := off.Files(context.Background(), []Request{{base + "/a", sumOf(payload)}})
	if err != nil || len(paths) != 1 {
		t.Fatalf("cached file offline: %v", err)
	}
	b, err := off.Unverified(context.Background(), base+"/InRelease")
	if err != nil || string(b) != "signed\n" {
		t.Errorf("Unverified offline: %q %v", b, err)
	}
	if _, err := off.Unverified(context.Background(), base+"/Release"); !errors.As(err, &me) {
		t.Errorf("Unverified missing offline: %v", err)
	}
	if got := s.hitCount("/a") + s.hitCount("/InRelease") + s.hitCount("/b") + s.hitCount("/c"); got != hits {
		t.Errorf("offline fetcher made %d requests", got-hits)
	}
}

func TestFileURL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Packages")
	if err := os.WriteFile(p, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFetcher(t, Options{Offline: true})
	got, err := f.File(context.Background(), "file://"+p, sumOf(payload))
	if err != nil || got != p {
		t.Fatalf("File = %q, %v; want the source path", got, err)
	}
	bad := sumOf(payload)
	bad.Size++
	if _, err := f.Bytes(context.Background(), "file://"+p, bad); err == nil || !strings.Contains(err.Error(), "file://"+p+": size mismatch") {
		t.Errorf("size mismatch: %v", err)
	}
	if _, err := f.Unverified(context.Background(), "file://"+dir+"/InRelease"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := f.Bytes(context.Background(), "ftp://x/y", sumOf(payload)); err == nil || !strings.Contains(err.Error(), "unsupported URL scheme \"ftp\"") {
		t.Errorf("ftp: %v", err)
	}
}

func TestParallelBounded(t *testing.T) {
	s, base := newServer(t)
	var reqs []Request
	var total int64
	for i := range 24 {
		b := bytes.Repeat([]byte{byte(i)}, 1000+i)
		s.files[fmt.Sprintf("/f%d", i)] = b
		reqs = append(reqs, Request{fmt.Sprintf("%s/f%d", base, i), sumOf(b)})
		total += int64(len(b))
	}
	var seen atomic.Int64
	f := newFetcher(t, Options{Jobs: 3, Progress: func(_ string, n int64) { seen.Add(n) }})
	paths, err := f.Files(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		b, _ := os.ReadFile(p)
		if len(b) != 1000+i || b[0] != byte(i) {
			t.Errorf("paths[%d] = %s holds the wrong file", i, p)
		}
	}
	if m := s.maxSeen.Load(); m > 3 {
		t.Errorf("%d concurrent requests, limit 3", m)
	}
	if seen.Load() != total {
		t.Errorf("progress reported %d bytes, want %d", seen.Load(), total)
	}
}

func TestCancel(t *testing.T) {
	s, base := newServer(t)
	s.files["/a"] = payload
	s.block = make(chan struct{})
	defer close(s.block)
	f := newFetcher(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := f.Bytes(ctx, base+"/a", sumOf(payload))
		done <- err
	}()
	for s.active.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), base+"/a") {
		t.Errorf("error %v, want context.Canceled naming the URL", err)
	}
}
