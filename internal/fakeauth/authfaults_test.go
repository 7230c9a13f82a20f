package fakeauth

import (
	"io"
	"net/http"
	"slices"
	"testing"
)

func TestAuthAPIInjectFaults(t *testing.T) {
	a, _ := newAuthTestAPI(Options{})
	url, stop := a.Start()
	defer stop()
	a.InjectFaults(Unauthorized, Forbidden, TooManyRequests, ServerError, Malformed, Slow, ServerError)
	if n := a.ClearFaults(); n != 7 {
		t.Fatalf("ClearFaults = %d, want the 7 queued", n)
	}
	a.InjectFaults(Unauthorized, Forbidden, TooManyRequests, ServerError, Malformed, Slow)
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

func TestAuthAPIFaultPlan(t *testing.T) {
	a, _ := newAuthTestAPI(Options{})
	url, stop := a.Start()
	defer stop()
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
	codes := func(n int) []int {
		var out []int
		for range n {
			out = append(out, get())
		}
		return out
	}
	// Every third request fails; a queued fault comes first.
	a.SetFaults(FaultPlan{Every: 3, EveryFault: ServerError})
	a.InjectFaults(Malformed)
	if got, want := codes(6), []int{200, 200, 500, 200, 200, 500}; !slices.Equal(got, want) {
		t.Errorf("every third: %v, want %v (the first a malformed 200)", got, want)
	}
	// A hold after two more credentials, before any queued fault.
	a.SetFaults(FaultPlan{Hold: Forbidden, HoldAfter: 2})
	a.InjectFaults(ServerError)
	if got, want := codes(5), []int{500, 200, 200, 403, 403}; !slices.Equal(got, want) {
		t.Errorf("hold after 2: %v, want %v", got, want)
	}
	a.SetFaults(FaultPlan{})
	if got := get(); got != 200 || a.FaultsInjected() != 6 || a.ClearFaults() != 0 {
		t.Errorf("after the plan: %d, %d faults; want 200, 6 faults, nothing queued", got, a.FaultsInjected())
	}
}
