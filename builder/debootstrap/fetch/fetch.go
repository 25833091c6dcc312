package fetch

import (
	"context"
	"crypto/md5" //nolint:gosec // sarge-era Release files list only MD5.
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// Sum is what the caller knows about a file's content. Sums are hex
// (either case). When any sum is set, Size is checked too (a Release or
// Packages file always gives both); a Sum with no hash is "unverified" and
// is refused by File and Bytes.
type Sum struct {
	Size   int64 // bytes
	MD5    string
	SHA1   string
	SHA256 string
}

// best returns the strongest algorithm name and its lower-case hex sum.
func (s Sum) best() (string, string) {
	switch {
	case s.SHA256 != "":
		return "SHA256", strings.ToLower(s.SHA256)
	case s.SHA1 != "":
		return "SHA1", strings.ToLower(s.SHA1)
	case s.MD5 != "":
		return "MD5Sum", strings.ToLower(s.MD5)
	}
	return "", ""
}

// Options configures a Fetcher.
type Options struct {
	// CacheDir holds the cache; it is created if missing. Required.
	CacheDir string
	// Client does the HTTP requests; nil means a client with no overall
	// timeout (requests stop with their context).
	Client *http.Client
	// Jobs bounds parallel downloads in Files; 0 means 4.
	Jobs int
	// Attempts is the number of tries per download, the first included;
	// 0 means 4.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each further
	// one; 0 means 500ms.
	Backoff time.Duration
	// Offline serves files only from the cache (and file:// URLs); a file
	// not there is an error naming it.
	Offline bool
	// Progress, if set, is called with the URL and the number of bytes just
	// received (a delta). It is called from several goroutines at once.
	Progress func(url string, n int64)
	// UserAgent is sent with every request; empty means "xenimg-fetch".
	UserAgent string
}

// Fetcher downloads and caches files. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	client *http.Client
}

// New returns a Fetcher, creating the cache directory.
func New(opts Options) (*Fetcher, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("fetch: Options.CacheDir is required")
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 4
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "xenimg-fetch"
	}
	if err := os.MkdirAll(filepath.Join(opts.CacheDir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("creating cache: %w", err)
	}
	c := opts.Client
	if c == nil {
		c = &http.Client{}
	}
	return &Fetcher{opts: opts, client: c}, nil
}

// HTTPError is a non-success HTTP status.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("fetch: GET %s: %s", e.URL, e.Status) }

// Is makes 404 and 410 match fs.ErrNotExist.
func (e *HTTPError) Is(target error) bool {
	return target == fs.ErrNotExist && (e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone)
}

// ChecksumError is a size or sum mismatch.
type ChecksumError struct {
	URL       string
	Algorithm string // "size", "SHA256", "SHA1" or "MD5Sum"
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("fetch: %s: %s mismatch: want %s, got %s", e.URL, e.Algorithm, e.Want, e.Got)
}

// MissingError lists files an offline Fetcher could not find in its cache.
type MissingError struct {
	CacheDir string
	URLs     []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("fetch: offline, %d file(s) not in cache %s: %s", len(e.URLs), e.CacheDir, strings.Join(e.URLs, ", "))
}

// Is makes MissingError match fs.ErrNotExist.
func (e *MissingError) Is(target error) bool { return target == fs.ErrNotExist }

// ErrNoSum is returned when File or Bytes is given a Sum without a hash.
var ErrNoSum = errors.New("fetch: no checksum given")

// Request is one file for Files.
type Request struct {
	URL string
	Sum Sum
}

// Files fetches every request, Jobs at a time, and returns the verified
// paths in request order. Offline, all missing files are reported in one
// MissingError.
func (f *Fetcher) Files(ctx context.Context, reqs []Request) ([]string, error) {
	paths := make([]string, len(reqs))
	if f.opts.Offline {
		var missing []string
		for i, r := range reqs {
			p, err := f.File(ctx, r.URL, r.Sum)
			var me *MissingError
			if errors.As(err, &me) {
				missing = append(missing, me.URLs...)
				continue
			}
			if err != nil {
				return nil, err
			}
			paths[i] = p
		}
		if len(missing) > 0 {
			return nil, &MissingError{CacheDir: f.opts.CacheDir, URLs: missing}
		}
		return paths, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.opts.Jobs)
	for i, r := range reqs {
		g.Go(func() error {
			p, err := f.File(gctx, r.URL, r.Sum)
			paths[i] = p
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return paths, nil
}

// File returns the path of a verified copy of url: the cache entry, or
// for file:// URLs the source file itself.
func (f *Fetcher) File(ctx context.Context, rawURL string, sum Sum) (string, error) {
	p, _, err := f.get(ctx, rawURL, sum, false)
	return p, err
}

// Bytes returns the verified content of url.
func (f *Fetcher) Bytes(ctx context.Context, rawURL string, sum Sum) ([]byte, error) {
	_, b, err := f.get(ctx, rawURL, sum, true)
	return b, err
}

func (f *Fetcher) get(ctx context.Context, rawURL string, sum Sum, wantBytes bool) (string, []byte, error) {
	algo, want := sum.best()
	if algo == "" {
		return "", nil, fmt.Errorf("fetching %s: %w", rawURL, ErrNoSum)
	}
	if _, err := hex.DecodeString(want); err != nil {
		return "", nil, fmt.Errorf("fetching %s: bad %s sum %q", rawURL, algo, want)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, fmt.Errorf("fetch: parsing URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		b, err := verifyFile(u.Path, rawURL, sum, wantBytes)
		if err != nil {
			return "", nil, err
		}
		return u.Path, b, nil
	case "http", "https":
	default:
		return "", nil, fmt.Errorf("fetch: %s: unsupported URL scheme %q (want http, https or file)", rawURL, u.Scheme)
	}

	cached := filepath.Join(f.opts.CacheDir, "by-hash", algo, want)
	b, err := verifyFile(cached, rawURL, sum, wantBytes)
	if err == nil {
		return cached, b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		var ce *ChecksumError
		if !errors.As(err, &ce) {
			return "", nil, err
		}
		// Corrupt cache entry: drop it and fetch again.
		if rerr := os.Remove(cached); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("removing corrupt cache entry %s: %w", cached, rerr)
		}
	}
	if f.opts.Offline {
		return "", nil, &MissingError{CacheDir: f.opts.CacheDir, URLs: []string{rawURL}}
	}
	b, err = f.download(ctx, rawURL, cached, &sum, wantBytes)
	if err != nil {
		return "", nil, err
	}
	return cached, b, nil
}

// Unverified returns the content of url without a checksum to check it
// against: for InRelease, Release and Release.gpg, which the caller
// verifies by signature. Online it always downloads and keeps a copy in the
// cache; offline it returns that copy. A 404 matches fs.ErrNotExist.
func (f *Fetcher) Unverified(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("fetch: parsing URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		b, err := os.ReadFile(u.Path)
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", rawURL, err)
		}
		return b, nil
	case "http", "https":
	default:
		return nil, fmt.Errorf("fetch: %s: unsupported URL scheme %q (want http, https or file)", rawURL, u.Scheme)
	}
	clean := path.Clean("/" + u.Path)
	if u.RawQuery != "" {
		clean += "?" + url.PathEscape(u.RawQuery)
	}
	cached := filepath.Join(f.opts.CacheDir, "url", url.PathEscape(u.Host), filepath.FromSlash(clean))
	if f.opts.Offline {
		b, err := os.ReadFile(cached)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &MissingError{CacheDir: f.opts.CacheDir, URLs: []string{rawURL}}
		}
		if err != nil {
			return nil, fmt.Errorf("reading cached %s: %w", rawURL, err)
		}
		return b, nil
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	b, err := f.download(ctx, rawURL, cached, nil, true)
	if err != nil {
		// A file the server no longer has must not be served offline later.
		if errors.Is(err, fs.ErrNotExist) {
			os.Remove(cached)
		}
		return nil, err
	}
	return b, nil
}

// download fetches rawURL into dst (atomically), verifying sum if not nil,
// retrying transient failures.
func (f *Fetcher) download(ctx context.Context, rawURL, dst string, sum *Sum, wantBytes bool) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < f.opts.Attempts; attempt++ {
		if attempt > 0 {
			delay := f.opts.Backoff << (attempt - 1)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("fetching %s: %w (after: %v)", rawURL, ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		b, err := f.once(ctx, rawURL, dst, sum, wantBytes)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if ctx.Err() != nil || !transient(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("fetching %s: giving up after %d attempts: %w", rawURL, f.opts.Attempts, lastErr)
}

func (f *Fetcher) once(ctx context.Context, rawURL, dst string, sum *Sum, wantBytes bool) (_ []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch: building request for %s: %w", rawURL, err)
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &HTTPError{URL: rawURL, StatusCode: resp.StatusCode, Status: resp.Status}
	}

	tmp, err := os.CreateTemp(filepath.Join(f.opts.CacheDir, "tmp"), "dl-*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	var body io.Reader = resp.Body
	if sum != nil {
		// Never read more than one byte past the expected size.
		body = io.LimitReader(body, sum.Size+1)
	}
	if f.opts.Progress != nil {
		body = &progressReader{r: body, url: rawURL, fn: f.opts.Progress}
	}
	h := newHasher(sum)
	w := io.MultiWriter(tmp, h)
	var sink *byteSink
	if wantBytes {
		sink = &byteSink{}
		if sum != nil {
			sink.b = make([]byte, 0, sum.Size)
		}
		w = io.MultiWriter(tmp, h, sink)
	}
	n, err := io.Copy(w, body)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: reading body after %d bytes: %w", rawURL, n, err)
	}
	if err = h.check(rawURL, n, sum); err != nil {
		return nil, err
	}
	if err = finish(tmp, dst); err != nil {
		return nil, err
	}
	if sink != nil {
		return sink.b, nil
	}
	return nil, nil
}

func finish(tmp *os.File, dst string) error {
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("moving download into the cache: %w", err)
	}
	return nil
}

type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }

type progressReader struct {
	r   io.Reader
	url string
	fn  func(string, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn(p.url, int64(n))
	}
	return n, err
}

// hasher computes only the strongest sum the caller knows.
type hasher struct {
	algo string
	h    hash.Hash
}

func newHasher(sum *Sum) *hasher {
	if sum == nil {
		return &hasher{h: nopHash{}}
	}
	algo, _ := sum.best()
	switch algo {
	case "SHA256":
		return &hasher{algo, sha256.New()}
	case "SHA1":
		return &hasher{algo, sha1.New()} //nolint:gosec
	default:
		return &hasher{algo, md5.New()} //nolint:gosec
	}
}

func (h *hasher) Write(p []byte) (int, error) { return h.h.Write(p) }

func (h *hasher) check(rawURL string, n int64, sum *Sum) error {
	if sum == nil {
		return nil
	}
	if n != sum.Size {
		got := fmt.Sprint(n)
		if n > sum.Size {
			got = "more"
		}
		return &ChecksumError{URL: rawURL, Algorithm: "size", Want: fmt.Sprint(sum.Size), Got: got}
	}
	_, want := sum.best()
	if got := hex.EncodeToString(h.h.Sum(nil)); got != want {
		return &ChecksumError{URL: rawURL, Algorithm: h.algo, Want: want, Got: got}
	}
	return nil
}

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

// verifyFile checks the file at p against sum; a missing file matches
// fs.ErrNotExist. With wantBytes it returns the content.
func verifyFile(p, rawURL string, sum Sum, wantBytes bool) ([]byte, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	if st.Size() != sum.Size {
		return nil, &ChecksumError{URL: rawURL, Algorithm: "size", Want: fmt.Sprint(sum.Size), Got: fmt.Sprint(st.Size())}
	}
	h := newHasher(&sum)
	var data []byte
	if wantBytes {
		data = make([]byte, st.Size())
		if _, err := io.ReadFull(fh, data); err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		h.Write(data)
		if err := h.check(rawURL, int64(len(data)), &sum); err != nil {
			return nil, err
		}
		return data, nil
	}
	n, err := io.Copy(h, fh)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return nil, h.check(rawURL, n, &sum)
}

// transient reports whether a failed download is worth retrying.
func transient(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == http.StatusRequestTimeout || he.StatusCode == http.StatusTooManyRequests
	}
	var ce *ChecksumError
	if errors.As(err, &ce) {
		// A body cut short by the server is worth another try; a wrong sum
		// over the full size is not.
		return ce.Algorithm == "size" && ce.Got != "more"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return false
}
