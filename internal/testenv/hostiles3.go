package testenv

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HostileS3 is a reverse proxy on 127.0.0.1 in front of an S3 endpoint
// (path-style) that plays a broken or malicious S3-compatible server, as its
// Attack says: it adds foreign entries to listings, lies about sizes,
// paginates forever, never answers, or drips its answers. Host headers are
// forwarded, so SigV4 signatures made for the proxy verify upstream.
type HostileS3 struct {
	s3Proxy

	mu     sync.Mutex
	attack Attack
	served int // responses the attack changed
	pages  int // pages made up for FreshTokens
}

// ListEntry is an object added to a listing: Key is the full key.
type ListEntry struct {
	Key  string
	Size int64
}

// Attack is what a HostileS3 does; the zero Attack forwards everything.
type Attack struct {
	// ListPrefix selects the listings to attack: those whose prefix
	// contains it ("" for all).
	ListPrefix string
	// Extra entries are appended to the selected listings, and served to
	// GET and HEAD (Size bytes of 'e').
	Extra []ListEntry
	// Sizes replace the size of these full keys in every listing.
	Sizes map[string]int64
	// SameToken answers the selected listings with empty pages, truncated,
	// always with the same continuation token; FreshTokens with a new token
	// every page.
	SameToken, FreshTokens bool
	// Hang: requests of operation Op (OpAny: all) whose key, or listing
	// prefix, contains Key are read and never answered.
	Hang bool
	// Drip: responses to requests of operation Op whose key contains Key
	// are forwarded, their body one byte every DripEvery.
	Drip      bool
	DripEvery time.Duration
	Op        Op
	Key       string
}

// NewHostileS3 starts a hostile proxy to target (http://host:port) that
// forwards everything until Set gives it an attack.
func NewHostileS3(target string) (*HostileS3, error) {
	sp, err := newS3Proxy("hostile S3", target)
	if err != nil {
		return nil, err
	}
	h := &HostileS3{s3Proxy: sp}
	h.rp.ModifyResponse = h.rewriteListing
	if err := h.start(http.HandlerFunc(h.serve)); err != nil {
		return nil, err
	}
	return h, nil
}

// Set replaces the attack.
func (h *HostileS3) Set(a Attack) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attack = a
}

// Served is how many responses the attacks changed (or withheld) so far.
func (h *HostileS3) Served() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served
}

func (h *HostileS3) current() Attack {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attack
}

func (h *HostileS3) count() {
	h.mu.Lock()
	h.served++
	h.mu.Unlock()
}

func (h *HostileS3) serve(w http.ResponseWriter, r *http.Request) {
	a := h.current()
	op, key := ClassifyS3(r)
	if op == OpList {
		key = r.URL.Query().Get("prefix")
	}
	switch {
	case a.Hang && (a.Op == OpAny || a.Op == op) && strings.Contains(key, a.Key):
		h.count()
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // the client gave up, or the proxy closed
	case op == OpList && (a.SameToken || a.FreshTokens) && strings.Contains(key, a.ListPrefix):
		h.count()
		h.mu.Lock()
		h.pages++
		token := "same-token"
		if a.FreshTokens {
			token = "fresh-token-" + strconv.Itoa(h.pages)
		}
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Prefix>%s</Prefix><KeyCount>0</KeyCount>`+
			`<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>%s</NextContinuationToken></ListBucketResult>`,
			xmlEscape(key), token)
	case (op == OpGetObject || op == OpHeadObject) && slices.ContainsFunc(a.Extra, func(e ListEntry) bool { return e.Key == key }):
		h.count()
		i := slices.IndexFunc(a.Extra, func(e ListEntry) bool { return e.Key == key })
		w.Header().Set("ETag", extraETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(bytes.Repeat([]byte{'e'}, int(a.Extra[i].Size))))
	case a.Drip && (a.Op == OpAny || a.Op == op) && strings.Contains(key, a.Key):
		h.count()
		h.rp.ServeHTTP(&dripWriter{ResponseWriter: w, every: a.DripEvery, done: r.Context().Done()}, r)
	default:
		h.rp.ServeHTTP(w, r)
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// dripWriter writes a response body one byte every every.
type dripWriter struct {
	http.ResponseWriter
	every time.Duration
	done  <-chan struct{}
}

func (d *dripWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := d.ResponseWriter.Write(p[i : i+1]); err != nil {
			return i, err
		}
		http.NewResponseController(d.ResponseWriter).Flush()
		select {
		case <-time.After(d.every):
		case <-d.done:
			return i + 1, io.ErrClosedPipe
		}
	}
	return len(p), nil
}

const extraETag = `"0123456789abcdef0123456789abcdef"`

// listResult is a ListObjectsV2 answer, as much of it as the attacks touch.
type listResult struct {
	XMLName               xml.Name     `xml:"ListBucketResult"`
	Xmlns                 string       `xml:"xmlns,attr,omitempty"`
	Name                  string       `xml:"Name"`
	Prefix                string       `xml:"Prefix"`
	KeyCount              int          `xml:"KeyCount"`
	MaxKeys               int          `xml:"MaxKeys"`
	Delimiter             string       `xml:"Delimiter,omitempty"`
	EncodingType          string       `xml:"EncodingType,omitempty"`
	IsTruncated           bool         `xml:"IsTruncated"`
	ContinuationToken     string       `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string       `xml:"NextContinuationToken,omitempty"`
	StartAfter            string       `xml:"StartAfter,omitempty"`
	Contents              []listObject `xml:"Contents"`
	CommonPrefixes        []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
}

type listObject struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified,omitempty"`
	ETag         string `xml:"ETag,omitempty"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass,omitempty"`
}

// rewriteListing applies Extra and Sizes to a successful listing.
func (h *HostileS3) rewriteListing(resp *http.Response) error {
	a := h.current()
	op, _ := ClassifyS3(resp.Request)
	prefix := resp.Request.URL.Query().Get("prefix")
	if op != OpList || resp.StatusCode != http.StatusOK || len(a.Extra) == 0 && len(a.Sizes) == 0 {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var l listResult
	if err := xml.Unmarshal(body, &l); err != nil {
		return fmt.Errorf("hostile S3: listing: %w", err)
	}
	encode, decode := func(k string) string { return k }, func(k string) string { return k }
	if l.EncodingType == "url" {
		encode = url.QueryEscape
		decode = func(k string) string { s, _ := url.QueryUnescape(k); return s }
	}
	changed := false
	for i, o := range l.Contents {
		if size, ok := a.Sizes[decode(o.Key)]; ok {
			l.Contents[i].Size = size
			changed = true
		}
	}
	if len(a.Extra) > 0 && strings.Contains(prefix, a.ListPrefix) && !l.IsTruncated {
		for _, e := range a.Extra {
			l.Contents = append(l.Contents, listObject{Key: encode(e.Key), Size: e.Size, ETag: extraETag})
		}
		l.KeyCount = len(l.Contents) + len(l.CommonPrefixes)
		changed = true
	}
	if changed {
		h.count()
		if body, err = xml.Marshal(l); err != nil {
			return err
		}
		body = append([]byte(xml.Header), body...)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}
