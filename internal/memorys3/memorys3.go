// Package memorys3 is an S3-compatible server held in memory, for tests,
// benchmarks and the demo: it serves every call the copy engine makes the way
// S3 does (ranged reads, multipart uploads, checksums, delimited listings).
package memorys3

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an S3-compatible server held in memory (gofakes3 with its s3mem
// backend), served over HTTP on a free loopback port. It does not check
// signatures: any credentials are accepted.
type Server struct {
	backend *s3mem.Backend
	srv     *http.Server
	ln      net.Listener
	done    chan error
}

// Start starts an in-memory S3 server on 127.0.0.1 and a free port.
// Close stops it.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("memory s3: listen: %w", err)
	}
	backend := s3mem.New()
	faker := gofakes3.New(pagedBackend{backend}, gofakes3.WithLogger(gofakes3.DiscardLog()))
	m := &Server{
		backend: backend,
		srv: &http.Server{
			Handler:           s3Compat(faker.Server(), backend),
			ReadHeaderTimeout: 10 * time.Second,
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { m.done <- m.srv.Serve(ln) }()
	return m, nil
}

// URL is the server's base endpoint, e.g. http://127.0.0.1:41234.
func (m *Server) URL() string { return "http://" + m.ln.Addr().String() }

// Close stops the server and drops every connection.
func (m *Server) Close() error {
	err := m.srv.Close()
	if serveErr := <-m.done; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// CreateBucket creates bucket directly in the backend.
func (m *Server) CreateBucket(name string) error {
	if err := m.backend.CreateBucket(name); err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	return nil
}

// Client returns an S3 client for this server: region us-east-1, path-style
// addressing, the given credentials, and nothing read from the environment or
// ~/.aws. optFns are applied last.
func (m *Server) Client(creds aws.CredentialsProvider, optFns ...func(*s3.Options)) *s3.Client {
	opts := []func(*s3.Options){func(o *s3.Options) {
		o.Region = "us-east-1"
		o.BaseEndpoint = aws.String(m.URL())
		o.UsePathStyle = true
		o.Credentials = creds
	}}
	return s3.New(s3.Options{}, append(opts, optFns...)...)
}

// pagedBackend fixes s3mem's delimited listing pages. s3mem ends a page on
// the raw key where MaxKeys ran out; when that key is folded into a common
// prefix the next page starts inside the prefix and returns the same common
// prefix again (with MaxKeys 1, once per key under it). S3 returns each common
// prefix once across all pages. pagedBackend lists everything after the
// marker from s3mem, drops a common prefix that the marker falls in, and cuts
// the page itself, with the last entry (key or common prefix) as NextMarker.
type pagedBackend struct {
	*s3mem.Backend
}

func (b pagedBackend) ListBucket(name string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	all, err := b.Backend.ListBucket(name, prefix, gofakes3.ListBucketPage{Marker: page.Marker, HasMarker: page.HasMarker})
	if err != nil {
		return nil, err
	}
	res := gofakes3.NewObjectList()
	contents, prefixes := all.Contents, all.CommonPrefixes
	for n := int64(0); len(contents) > 0 || len(prefixes) > 0; {
		var entry string
		if len(prefixes) == 0 || (len(contents) > 0 && contents[0].Key < prefixes[0].Prefix) {
			entry = contents[0].Key
			res.Add(contents[0])
			contents = contents[1:]
		} else {
			entry = prefixes[0].Prefix
			prefixes = prefixes[1:]
			if page.Marker != "" && strings.HasPrefix(page.Marker, entry) {
				continue // returned on an earlier page
			}
			res.AddPrefix(entry)
		}
		n++
		if page.MaxKeys > 0 && n >= page.MaxKeys {
			res.IsTruncated = len(contents) > 0 || len(prefixes) > 0
			if res.IsTruncated {
				res.NextMarker = entry
			}
			break
		}
	}
	return res, nil
}

// s3Compat strips from object responses the headers that S3 never returns
// but gofakes3 does: it stores every X-Amz-* request header with the object
// and replays them on GET and HEAD (the caller's X-Amz-Security-Token,
// X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Sdk-Checksum-Algorithm...). It also
// replays the whole-object X-Amz-Checksum-* on a 206 Range response, which
// fails the SDK's response checksum validation when ChecksumMode is ENABLED
// ("checksum did not match"); S3 returns a stored checksum only when the
// request has x-amz-checksum-mode: ENABLED and asks for the whole object.
//
// And CompleteMultipartUpload answers with the multipart ETag ("<md5>-N")
// while the object is stored, listed and HEADed with the MD5 of its bytes;
// S3 gives an object one ETag in every response, so the answer's ETag is
// replaced by the stored one.
func s3Compat(h http.Handler, backend *s3mem.Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			completeETag(h, backend, w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		f := &headerFilter{ResponseWriter: w, checksums: strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED")}
		h.ServeHTTP(f, r)
		f.filter(http.StatusOK) // a HEAD handler may write neither status nor body
	})
}

// completeETag serves a CompleteMultipartUpload and rewrites the ETag of a
// successful answer to the one the stored object has (path-style requests:
// /bucket/key).
func completeETag(h http.Handler, backend *s3mem.Backend, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if rec.Code == http.StatusOK {
		if obj, err := backend.HeadObject(bucket, key); err == nil {
			body = completeETagRe.ReplaceAll(body, []byte(fmt.Sprintf("<ETag>&#34;%x&#34;</ETag>", obj.Hash)))
		}
	}
	maps.Copy(w.Header(), rec.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body)
}

var completeETagRe = regexp.MustCompile(`<ETag>[^<]*</ETag>`)

// headerFilter removes unwanted X-Amz-* headers just before the status line
// is written.
type headerFilter struct {
	http.ResponseWriter
	checksums bool // the request asked for checksums
	wrote     bool
}

// s3ResponseHeaders are the X-Amz-* object response headers S3 itself sends
// (lower case, without the x-amz- prefix), besides x-amz-meta-* and
// x-amz-checksum-*.
var s3ResponseHeaders = map[string]bool{
	"request-id": true, "id-2": true, "version-id": true, "delete-marker": true,
	"storage-class": true, "server-side-encryption": true, "server-side-encryption-aws-kms-key-id": true,
	"server-side-encryption-bucket-key-enabled": true, "checksum-type": true, "mp-parts-count": true,
	"expiration": true, "restore": true, "replication-status": true, "tagging-count": true,
	"website-redirect-location": true, "object-lock-mode": true, "object-lock-retain-until-date": true,
	"object-lock-legal-hold": true, "missing-meta": true,
}

func (f *headerFilter) filter(status int) {
	if f.wrote {
		return
	}
	f.wrote = true
	h := f.ResponseWriter.Header()
	for k := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-")
		if !ok || strings.HasPrefix(name, "meta-") || s3ResponseHeaders[name] {
			continue
		}
		if strings.HasPrefix(name, "checksum-") && f.checksums && status == http.StatusOK {
			continue
		}
		h.Del(k)
	}
}

func (f *headerFilter) WriteHeader(status int) {
	f.filter(status)
	f.ResponseWriter.WriteHeader(status)
}

func (f *headerFilter) Write(p []byte) (int, error) {
	f.filter(http.StatusOK)
	return f.ResponseWriter.Write(p)
}

func (f *headerFilter) Unwrap() http.ResponseWriter { return f.ResponseWriter }
