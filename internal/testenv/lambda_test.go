package testenv

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const echoLambda = "github.com/e3sync/e3sync/internal/testenv/testdata/echolambda"

// echoResponse is testdata/echolambda's answer.
type echoResponse struct {
	Payload     json.RawMessage   `json:"payload"`
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	RemainingMS int64             `json:"remaining_ms"`
	PID         int               `json:"pid"`
	Env         map[string]string `json:"env"`
}

func startEcho(t *testing.T, env map[string]string) *Lambda {
	t.Helper()
	return StartLambda(t, BuildLambda(t, echoLambda), env)
}

// invokeEcho invokes l and decodes a successful answer.
func invokeEcho(t *testing.T, l *Lambda, payload string, timeout time.Duration) (Result, echoResponse) {
	t.Helper()
	res, err := l.Invoke(t.Context(), []byte(payload), timeout)
	if err != nil {
		t.Fatalf("Invoke(%s) error: %v", payload, err)
	}
	if res.FunctionError {
		t.Fatalf("Invoke(%s) = function error %s: %s", payload, res.ErrorType, res.Payload)
	}
	var resp echoResponse
	if err := json.Unmarshal(res.Payload, &resp); err != nil {
		t.Fatalf("Invoke(%s) payload %s: %v", payload, res.Payload, err)
	}
	return res, resp
}

func TestLambdaEcho(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "parent-key")
	t.Setenv("AWS_PROFILE", "parent-profile")
	l := startEcho(t, map[string]string{"E3SYNC_ECHO": "from-caller", "AWS_REGION": "eu-west-1"})

	payload := `{"msg":"hello","env":["E3SYNC_ECHO","AWS_REGION","AWS_DEFAULT_REGION","AWS_ACCESS_KEY_ID","AWS_PROFILE","_HANDLER","AWS_LAMBDA_RUNTIME_API","AWS_LAMBDA_FUNCTION_NAME"]}`
	res, resp := invokeEcho(t, l, payload, 5*time.Second)
	if string(resp.Payload) != payload {
		t.Errorf("handler got payload %s, want %s", resp.Payload, payload)
	}
	if res.RequestID == "" || resp.RequestID != res.RequestID {
		t.Errorf("handler saw request id %q, Result.RequestID = %q; want the same, non-empty", resp.RequestID, res.RequestID)
	}
	if resp.FunctionARN != l.FunctionARN() || !strings.HasPrefix(resp.FunctionARN, "arn:aws:lambda:eu-west-1:") {
		t.Errorf("handler saw function ARN %q, want %q in eu-west-1", resp.FunctionARN, l.FunctionARN())
	}
	if resp.RemainingMS <= 4000 || resp.RemainingMS > 5000 {
		t.Errorf("handler saw %d ms before its deadline, want about 5000", resp.RemainingMS)
	}
	if resp.PID != l.PID() {
		t.Errorf("handler ran in pid %d, PID() = %d", resp.PID, l.PID())
	}
	wantEnv := map[string]string{
		"E3SYNC_ECHO":              "from-caller",
		"AWS_REGION":               "eu-west-1",
		"AWS_DEFAULT_REGION":       Region,
		"_HANDLER":                 "bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME": "echolambda",
	}
	for k, want := range wantEnv {
		if got := resp.Env[k]; got != want {
			t.Errorf("handler saw %s=%q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE"} {
		if v, ok := resp.Env[k]; ok {
			t.Errorf("handler saw %s=%q inherited from the test, want it unset", k, v)
		}
	}
	if !strings.HasPrefix(resp.Env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("handler saw AWS_LAMBDA_RUNTIME_API=%q, want 127.0.0.1:port", resp.Env["AWS_LAMBDA_RUNTIME_API"])
	}
	if logs := l.Logs(); !strings.Contains(logs, "requestId="+res.RequestID) {
		t.Errorf("Logs() = %q, want the handler's log line with requestId=%s", logs, res.RequestID)
	}
}

func TestLambdaFunctionError(t *testing.T) {
	l := startEcho(t, nil)
	pid := l.PID()
	res, err := l.Invoke(t.Context(), []byte(`{"fail":true}`), 5*time.Second)
	if err != nil {
		t.Fatalf("Invoke(fail) error: %v", err)
	}
	var doc struct{ ErrorType, ErrorMessage string }
	_ = json.Unmarshal(res.Payload, &doc)
	if !res.FunctionError || res.ErrorType != "failure" || doc.ErrorType != "failure" || doc.ErrorMessage != "failing as asked" || res.RequestID == "" {
		t.Errorf("Invoke(fail) = %+v (payload %s), want a function error of type failure", res, res.Payload)
	}
	// A function error leaves the process warm.
	if _, resp := invokeEcho(t, l, `{}`, 5*time.Second); resp.PID != pid {
		t.Errorf("after a function error: pid %d, want the warm pid %d", resp.PID, pid)
	}
}

func TestLambdaWarmInvocations(t *testing.T) {
	l := startEcho(t, nil)
	pid := l.PID()
	seen := map[string]bool{}
	for i := range 5 {
		res, resp := invokeEcho(t, l, `{"i":`+strconv.Itoa(i)+`}`, 5*time.Second)
		if resp.PID != pid {
			t.Errorf("invocation %d ran in pid %d, want the warm pid %d", i, resp.PID, pid)
		}
		if seen[res.RequestID] {
			t.Errorf("invocation %d: request id %s reused", i, res.RequestID)
		}
		seen[res.RequestID] = true
	}
}

func TestLambdaSerialisesInvocations(t *testing.T) {
	l := startEcho(t, nil)
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			res, err := l.Invoke(t.Context(), []byte(`{"sleep_ms":150}`), 5*time.Second)
			if err != nil || res.FunctionError {
				t.Errorf("concurrent Invoke = %+v, %v; want success", res, err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("3 concurrent 150 ms invocations took %v, want them one after another (>= 450ms)", d)
	}
}

func TestLambdaTimeout(t *testing.T) {
	l := startEcho(t, nil)
	pid := l.PID()
	start := time.Now()
	res, err := l.Invoke(t.Context(), []byte(`{"sleep_ms":5000}`), 300*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Invoke(sleep past deadline) error = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Invoke with a 300ms timeout returned after %v", d)
	}
	if !res.FunctionError || res.ErrorType != "Sandbox.Timedout" || !strings.Contains(string(res.Payload), "Task timed out after 0.30 seconds") {
		t.Errorf("Invoke(sleep past deadline) = %+v (payload %s), want Sandbox.Timedout", res, res.Payload)
	}
	if processAlive(pid) {
		t.Errorf("pid %d still running after the timeout", pid)
	}
	// The next invocation is a cold start.
	if _, resp := invokeEcho(t, l, `{}`, 5*time.Second); resp.PID == pid {
		t.Errorf("after a timeout: pid %d, want a new process", resp.PID)
	}
}

func TestLambdaCrash(t *testing.T) {
	l := startEcho(t, nil)
	pid := l.PID()
	res, err := l.Invoke(t.Context(), []byte(`{"crash":true}`), 5*time.Second)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Invoke(crash) error = %v, want ErrExited", err)
	}
	for _, want := range []string{"exit status 3", "echolambda: crashing as asked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Invoke(crash) error = %v, want it to contain %q", err, want)
		}
	}
	if !res.FunctionError || res.ErrorType != "Runtime.ExitError" {
		t.Errorf("Invoke(crash) = %+v, want Runtime.ExitError", res)
	}
	if _, resp := invokeEcho(t, l, `{}`, 5*time.Second); resp.PID == pid {
		t.Errorf("after a crash: pid %d, want a new process", resp.PID)
	}
}

// apiCall makes one request to a Runtime API and returns the status and the
// errorType of the body.
func apiCall(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ ErrorType string }
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.ErrorType
}

// TestLambdaRuntimeAPI plays the runtime against the Runtime API server.
func TestLambdaRuntimeAPI(t *testing.T) {
	api, err := startRuntimeAPI("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn")
	if err != nil {
		t.Fatal(err)
	}
	defer api.close()
	base := "http://" + api.addr + "/2018-06-01/runtime"

	if code, typ := apiCall(t, http.MethodPost, base+"/invocation/nope/response", "{}", nil); code != http.StatusForbidden || typ != "InvalidStateTransition" {
		t.Errorf("response with nothing in flight = %d %s, want 403 InvalidStateTransition", code, typ)
	}

	inv := &invocation{id: newRequestID(), payload: []byte(`{"a":1}`), timeout: 2 * time.Second, dispatched: make(chan struct{}), done: make(chan struct{})}
	go func() { api.next <- inv }()
	resp, err := http.Get(base + "/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	deadline, _ := strconv.ParseInt(resp.Header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if resp.StatusCode != http.StatusOK || string(body) != `{"a":1}` ||
		resp.Header.Get("Lambda-Runtime-Aws-Request-Id") != inv.id ||
		resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn") != api.arn ||
		!strings.HasPrefix(resp.Header.Get("Lambda-Runtime-Trace-Id"), "Root=1-") ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET next = %d %s, headers %v; want 200, the event and its headers", resp.StatusCode, body, resp.Header)
	}
	if left := time.Until(time.UnixMilli(deadline)); left <= time.Second || left > 2*time.Second {
		t.Errorf("Lambda-Runtime-Deadline-Ms is %v ahead, want about 2s", left)
	}

	if code, typ := apiCall(t, http.MethodPost, base+"/invocation/other-id/response", "{}", nil); code != http.StatusBadRequest || typ != "InvalidRequestID" {
		t.Errorf("response for another id = %d %s, want 400 InvalidRequestID", code, typ)
	}
	code, _ := apiCall(t, http.MethodPost, base+"/invocation/"+inv.id+"/error", `{"errorMessage":"boom","errorType":"ignored"}`,
		map[string]string{"Lambda-Runtime-Function-Error-Type": "Custom.Boom"})
	if code != http.StatusAccepted {
		t.Errorf("error for the invocation = %d, want 202", code)
	}
	select {
	case <-inv.done:
		if !inv.result.FunctionError || inv.result.ErrorType != "Custom.Boom" || !strings.Contains(string(inv.result.Payload), "boom") {
			t.Errorf("invocation result = %+v, want function error Custom.Boom", inv.result)
		}
	default:
		t.Error("invocation not finished by its error")
	}
	if code, typ := apiCall(t, http.MethodPost, base+"/invocation/"+inv.id+"/response", "{}", nil); code != http.StatusForbidden || typ != "InvalidStateTransition" {
		t.Errorf("second answer = %d %s, want 403 InvalidStateTransition", code, typ)
	}
	if code, _ := apiCall(t, http.MethodPost, base+"/init/error", "{}", nil); code != http.StatusForbidden {
		t.Errorf("init error after init = %d, want 403", code)
	}
	if code, _ := apiCall(t, http.MethodGet, base+"/invocation/x/response", "", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET response = %d, want 405", code)
	}
}

func TestLambdaRuntimeAPIInitError(t *testing.T) {
	api, err := startRuntimeAPI("fn", "arn:aws:lambda:us-east-1:123456789012:function:fn")
	if err != nil {
		t.Fatal(err)
	}
	defer api.close()
	code, _ := apiCall(t, http.MethodPost, "http://"+api.addr+"/2018-06-01/runtime/init/error",
		`{"errorMessage":"no config","errorType":"Config"}`, map[string]string{"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"})
	if code != http.StatusAccepted {
		t.Fatalf("init error = %d, want 202", code)
	}
	select {
	case <-api.initFailed:
	default:
		t.Error("initFailed not closed")
	}
	if ie := api.initError(); ie == nil || ie.ErrorType != "Runtime.ConfigError" {
		t.Errorf("initError() = %+v, want Runtime.ConfigError", ie)
	}
}
