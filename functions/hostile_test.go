package functions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/e3sync/e3sync/internal/testenv"
)

// Both functions, run against an Authentication API that echoes the PAT in
// its 401 bodies (raw, base64 of "Bearer <PAT>", JSON-escaped, 14
// characters of it), log and answer the rejection with the echoes
// redacted; and an http API URL to a non-loopback host stops the function
// at init with a settings error naming the variable.
func TestLambdasWithHostileAuthAPI(t *testing.T) {
	s := newStack(t)
	var calls atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		j, _ := json.Marshal(tok)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"message":"bad token %s / %s / %s / %s"}`, tok,
			base64.StdEncoding.EncodeToString([]byte("Bearer "+tok)), j[1:len(j)-1], tok[2:16])
	}))
	defer front.Close()
	env := maps.Clone(s.env)
	env["OPTIMIZELY_API_URL"] = front.URL
	fetch := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/fetchcreds"), env)
	copier := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/copier"), env)
	d := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	out := []string{
		string(s.invoke(fetch, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`)).Payload),
		string(s.invoke(copier, []byte(`{"type":"events","date":"`+d+`","partition":"event=purchase"}`)).Payload),
	}
	text := strings.Join(out, "\n") + fetch.Logs() + copier.Logs()
	if calls.Load() == 0 || !strings.Contains(text, "[REDACTED]") || !strings.Contains(text, "regenerate") {
		t.Errorf("%d Authentication API calls; want the rejection logged with the echoes redacted:\n%s", calls.Load(), text)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("Bearer " + pat))[12:] // past "Bearer "
	for _, form := range []string{pat, b64} {
		for i := 0; i+12 <= len(form); i++ {
			if strings.Contains(text, form[i:i+12]) {
				t.Errorf("output holds %q of a form of the PAT", form[i:i+12])
				break
			}
		}
	}

	env["OPTIMIZELY_API_URL"] = "http://api.optimizely.invalid"
	bad := testenv.StartLambda(t, testenv.BuildLambda(t, "./functions/fetchcreds"), env)
	res, err := bad.Invoke(context.Background(), []byte(`{}`), time.Minute)
	if !errors.Is(err, testenv.ErrExited) || !res.FunctionError {
		t.Errorf("invoke with an http API URL = %+v, %v; want the function to stop at init", res, err)
	}
	if logs := bad.Logs(); !strings.Contains(logs, "OPTIMIZELY_API_URL") || !strings.Contains(logs, "plain http") {
		t.Errorf("init log does not name the bad setting:\n%s", logs)
	}
}
