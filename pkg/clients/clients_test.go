package clients

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// TestUploadsNeedNoCopyBuffer sends the same small PUTs through a client
// with and without ForUploads and compares the bytes allocated per request
// (client and loopback server in this process): with the default 4 KiB
// write buffer net/http copies the body into the connection through a
// 32 KiB buffer it allocates per request; with UploadWriteBuffer the body
// goes out from the connection's own buffer.
func TestUploadsNeedNoCopyBuffer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	body := make([]byte, 48<<10)
	perPut := func(opts ...func(*http.Transport)) uint64 {
		c := HTTPClient(nil, DefaultTimeouts, opts...)
		put := func() {
			req, _ := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(body))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		for range 10 { // connections made, pools filled
			put()
		}
		const n = 200
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			put()
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	plain, uploads := perPut(), perPut(ForUploads)
	t.Logf("bytes allocated per 48 KiB PUT: %d with net/http's write buffer, %d with ForUploads", plain, uploads)
	if plain < uploads+24<<10 {
		t.Errorf("ForUploads saves %d bytes per PUT, want the 32 KiB copy buffer (≥ 24 KiB) saved", int64(plain)-int64(uploads))
	}
}
