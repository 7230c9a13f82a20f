package emulator

import (
	"io"
	"net/http"
	"testing"
)

func TestAuthAPIInjectFaults(t *testing.T) {
	a, _ := newAuthTestAPI(AuthAPIOptions{})
	url, stop := a.Start()
	defer stop()
	a.InjectFaults(AuthTooManyRequests, AuthServerError, AuthMalformed, AuthSlow)
	get := func() (*http.Response, string) {
		req, _ := http.NewRequest("GET", url+CredentialsPath+"?duration=1h", nil)
		req.Header.Set("Authorization", "Bearer "+"good-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if r, _ := get(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "1" {
		t.Errorf("first = %d, Retry-After %q; want 429 and 1", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r, _ := get(); r.StatusCode != 500 {
		t.Errorf("second = %d, want 500", r.StatusCode)
	}
	if r, body := get(); r.StatusCode != 200 || body != `{"credentials":{"accessKeyId":"AKIA` {
		t.Errorf("third = %d %q, want malformed JSON", r.StatusCode, body)
	}
	if r, _ := get(); r.StatusCode != 200 {
		t.Errorf("fourth (slow) = %d, want credentials", r.StatusCode)
	}
	if r, _ := get(); r.StatusCode != 200 || a.FaultsInjected() != 4 || a.Issued() != 2 {
		t.Errorf("fifth = %d, faults %d, issued %d; want 200, 4, 2", r.StatusCode, a.FaultsInjected(), a.Issued())
	}
}
