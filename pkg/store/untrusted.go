package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A listing is untrusted input: the bucket is Optimizely's and any
// S3-compatible server can answer. These bound one List call in requests and
// memory; a listing that needs more is an error (README, Limits).
const (
	// MaxListEntries bounds the objects plus folders of one listing. A real
	// sub-partition or date holds thousands at most.
	MaxListEntries = 1_000_000
	// MaxListPages bounds the pages (ListObjectsV2 requests) of one listing:
	// S3 returns up to 1,000 entries a page, so this leaves room for pages
	// that come back short.
	MaxListPages = 10_000
	// maxListPageBytes bounds one page's response body (1,000 keys of at
	// most 1,024 bytes, URL-encoded, and their XML fit in a fraction of it).
	maxListPageBytes = 32 << 20
)

// MaxObjectSize is S3's limit for one object, 5 TiB. A listed size beyond it,
// or below 0, is a lie that no copy may act on.
const MaxObjectSize int64 = 5 << 40

// ErrBadSize is wrapped by the errors of CheckSize.
var ErrBadSize = errors.New("impossible object size")

// CheckSize rejects a size no object can have (below 0, above MaxObjectSize).
func CheckSize(size int64) error {
	if size < 0 || size > MaxObjectSize {
		return fmt.Errorf("%w: %d bytes (want 0 to 5 TiB)", ErrBadSize, size)
	}
	return nil
}

// checkListed checks one entry (the full key or common prefix, decoded) of a
// listing of listed, a prefix ending in "/" or "", and returns it relative to
// root (which listed starts with). Truth table:
//
//	entry not under listed                            -> foreign
//	delim, object, rest holds a "/"                   -> foreign (S3 rolls such keys into a folder)
//	delim, folder, rest not exactly one "seg/"        -> foreign
//	an empty, "." or ".." segment, or a NUL           -> foreign (it could not be written back)
//	otherwise                                         -> key relative to root
//
// (rest is the entry after listed; an object whose rest is "" is listed's own
// folder marker.)
func checkListed(entry, root, listed string, delim, folder bool) (string, error) {
	rest, ok := strings.CutPrefix(entry, listed)
	if !ok {
		return "", fmt.Errorf("%q is outside the prefix %q that was listed", entry, listed)
	}
	if delim {
		if folder {
			seg, ok := strings.CutSuffix(rest, "/")
			if !ok || seg == "" || strings.Contains(seg, "/") {
				return "", fmt.Errorf("folder %q is not one level below %q", entry, listed)
			}
		} else if strings.Contains(rest, "/") {
			return "", fmt.Errorf("%q is not directly in %q", entry, listed)
		}
	}
	key := strings.TrimPrefix(entry, root)
	if key == "" {
		return "", nil // the root's own folder marker
	}
	if err := checkKey(key); err != nil {
		return "", fmt.Errorf("listed %w", err)
	}
	return key, nil
}

// PanicError is a panic recovered inside a copy, turned into that copy's
// error instead of a crash.
type PanicError struct {
	Value  any
	Stack  []byte
	Logged bool // set by whoever logged Stack, so that it is logged once
}

// NewPanicError is the error for the panic value v, with the stack of the
// goroutine that panicked: call it from the deferred function that recovered.
func NewPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// recovered is deferred (defer recovered(&err)) in a function with a named
// error result: a panic becomes a *PanicError in err.
func recovered(err *error) {
	if r := recover(); r != nil {
		*err = NewPanicError(r)
	}
}

// lister checks and collects the pages of one S3 listing.
type lister struct {
	root, listed string // the store root, and root + the prefix listed
	delim        bool
	maxEntries   int // MaxListEntries
	maxPages     int // MaxListPages
	out          Listing
	pages        int
	lastKey      string          // objects and folders each come in key order
	lastFolder   string          //
	tokens       map[uint64]bool // continuation tokens seen, hashed
	seed         maphash.Seed
}

func newLister(root, listed string, delim bool) *lister {
	return &lister{root: root, listed: listed, delim: delim, maxEntries: MaxListEntries, maxPages: MaxListPages,
		tokens: map[uint64]bool{}, seed: maphash.MakeSeed()}
}

// add checks one page and adds its entries to l.out.
func (l *lister) add(page *s3.ListObjectsV2Output) error {
	l.pages++
	if n := len(l.out.Objects) + len(l.out.Prefixes) + len(page.Contents) + len(page.CommonPrefixes); n > l.maxEntries {
		return fmt.Errorf("more than %d entries: listing bound exceeded", l.maxEntries)
	}
	decode := func(k *string) (string, error) { return aws.ToString(k), nil }
	if page.EncodingType == types.EncodingTypeUrl {
		decode = func(k *string) (string, error) { return url.QueryUnescape(aws.ToString(k)) }
	}
	for _, o := range page.Contents {
		full, err := decode(o.Key)
		if err != nil {
			return fmt.Errorf("key %q: %w", aws.ToString(o.Key), err)
		}
		key, err := checkListed(full, l.root, l.listed, l.delim, false)
		if err != nil {
			return err
		}
		if l.lastKey != "" && full <= l.lastKey {
			return fmt.Errorf("key %q listed after %q: out of order or repeated", full, l.lastKey)
		}
		l.lastKey = full
		if key != "" {
			l.out.Objects = append(l.out.Objects, Object{Key: key, Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)})
		}
	}
	for _, cp := range page.CommonPrefixes {
		full, err := decode(cp.Prefix)
		if err != nil {
			return fmt.Errorf("prefix %q: %w", aws.ToString(cp.Prefix), err)
		}
		key, err := checkListed(full, l.root, l.listed, l.delim, true)
		if err != nil {
			return err
		}
		if l.lastFolder != "" && full <= l.lastFolder {
			return fmt.Errorf("folder %q listed after %q: out of order or repeated", full, l.lastFolder)
		}
		l.lastFolder = full
		l.out.Prefixes = append(l.out.Prefixes, key)
	}
	return nil
}

// next returns the continuation token of a truncated page, or an error if
// there is none, it was seen before, or the page bound is reached.
func (l *lister) next(page *s3.ListObjectsV2Output) (*string, error) {
	token := aws.ToString(page.NextContinuationToken)
	h := maphash.String(l.seed, token)
	switch {
	case token == "":
		return nil, errors.New("a truncated page without a continuation token")
	case l.tokens[h]:
		return nil, fmt.Errorf("continuation token repeated after %d pages: the listing would never end", l.pages)
	case l.pages >= l.maxPages:
		return nil, fmt.Errorf("more than %d pages: listing bound exceeded", l.maxPages)
	}
	l.tokens[h] = true
	return &token, nil
}

// limitBody fails the reading of a response body beyond n bytes: one
// listing page is decoded whole in memory.
func limitBody(n int64) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("e3syncLimitBody",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
						resp.Body = &cappedBody{ReadCloser: resp.Body, max: n, left: n}
					}
					return out, md, err
				}), middleware.After)
		})
	}
}

type cappedBody struct {
	io.ReadCloser
	max, left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("response body larger than %d bytes", c.max)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// Defaults for S3Options.BodyGrace and MinBodyRate: an 8 MiB part may take
// 60 s + 256 s, an average of at least 26 KiB/s.
const (
	DefaultBodyGrace   = time.Minute
	DefaultMinBodyRate = 32 << 10
)

// SlowBodyError is a body that took longer than its bound (S3Options).
type SlowBodyError struct {
	What  string // the object read
	Bytes int64
	Limit time.Duration
}

func (e *SlowBodyError) Error() string {
	return fmt.Sprintf("%s: %d bytes not received within %v: the body is too slow", e.What, e.Bytes, e.Limit)
}

// Timeout reports true: the endpoint is too slow to be worth retrying (see
// Unanswered).
func (e *SlowBodyError) Timeout() bool { return true }

// boundBody fails the reading of body (n bytes of what, read under ctx,
// which cancel cancels) once its bound has passed. The bound costs one timer
// per body, nothing per read.
func (s *S3) boundBody(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser, what string, n int64) io.ReadCloser {
	limit := s.opts.BodyGrace + time.Duration(float64(n)/float64(s.opts.MinBodyRate)*float64(time.Second))
	slow := &SlowBodyError{What: what, Bytes: n, Limit: limit}
	timer := time.AfterFunc(limit, func() { cancel(slow) })
	return &boundedBody{ReadCloser: body, what: what, cause: func() error { return context.Cause(ctx) }, stop: func() {
		timer.Stop()
		cancel(nil)
	}}
}

type boundedBody struct {
	io.ReadCloser
	what  string
	cause func() error
	stop  func()
}

// Read names the object in its errors (the reader's caller names only the
// destination).
func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		var slow *SlowBodyError
		if errors.As(b.cause(), &slow) {
			return n, slow
		}
		err = fmt.Errorf("read %s: %w", b.what, err)
	}
	return n, err
}

func (b *boundedBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}

// Unanswered reports whether err, from an operation whose context is not
// done, says an endpoint stopped answering: a request that timed out on
// every attempt the SDK made, a body that went silent (the clients' idle
// timeout) or came too slowly (SlowBodyError). Retrying it would only wait
// as long again. (net/http's timeouts also match context.DeadlineExceeded,
// so the caller, not this function, tells them from its own deadline.)
func Unanswered(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout() && ne != any(context.DeadlineExceeded)
}
