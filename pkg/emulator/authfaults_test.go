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
	a.InjectFaults(AuthUnauthorized, AuthForbidden, AuthTooManyRequests, AuthServerError, AuthMalformed, AuthSlow, AuthServerError)
	if n := a.ClearFaults(); n != 7 {
		t.Fatalf("ClearFaults = %d, want the 7 queued", n)
	}
	a.InjectFaults(AuthUnauthorized, AuthForbidden, AuthTooManyRequests, AuthServerError, AuthMalformed, AuthSlow)
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
	if r, _ := get(); r.StatusCode != 401 {
		t.Errorf("first = %d, want 401", r.StatusCode)
	}
	if r, _ := get(); r.StatusCode != 403 {
		t.Errorf("second = %d, want 403", r.StatusCode)
	}
	if r, _ := get(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "1" {
		t.Errorf("third = %d, Retry-After %q; want 429 and 1", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r, _ := get(); r.StatusCode != 500 {
		t.Errorf("fourth = %d, want 500", r.StatusCode)
	}
	if r, body := get(); r.StatusCode != 200 || body != `{"credentials":{"accessKeyId":"AKIA` {
		t.Errorf("fifth = %d %q, want malformed JSON", r.StatusCode, body)
	}
	if r, _ := get(); r.StatusCode != 200 {
		t.Errorf("sixth (slow) = %d, want credentials", r.StatusCode)
	}
	if r, _ := get(); r.StatusCode != 200 || a.FaultsInjected() != 6 || a.Issued() != 2 || a.ClearFaults() != 0 {
		t.Errorf("last = %d, faults %d, issued %d; want 200, 6, 2, nothing left queued", r.StatusCode, a.FaultsInjected(), a.Issued())
	}
}

func TestAuthAPIHold(t *testing.T) {
	a, _ := newAuthTestAPI(AuthAPIOptions{})
	url, stop := a.Start()
	defer stop()
	a.InjectFaults(AuthServerError)
	a.Hold(AuthForbidden)
	get := func() int {
		req, _ := http.NewRequest("GET", url+CredentialsPath, nil)
		req.Header.Set("Authorization", "Bearer "+"good-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if code := get(); code != 403 {
			t.Errorf("request %d while held = %d, want 403", i+1, code)
		}
	}
	a.Hold("")
	if first, second := get(), get(); first != 500 || second != 200 || a.FaultsInjected() != 4 {
		t.Errorf("after the hold: %d then %d, %d faults; want the queued 500, then 200, 4 faults", first, second, a.FaultsInjected())
	}
}
