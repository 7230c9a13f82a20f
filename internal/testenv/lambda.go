package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Lambda's limits and fixed values that the emulation follows.
const (
	lambdaAccountID      = "123456789012"
	lambdaMaxPayload     = 6 << 20                // bytes, request and response of a synchronous invoke
	lambdaInitTimeout    = 10 * time.Second       // a runtime must ask for its first invocation within this
	lambdaShutdownGrace  = 500 * time.Millisecond // between SIGTERM and SIGKILL with an internal extension
	lambdaDefaultMemory  = "128"
	runtimeAPIVersion    = "/2018-06-01"
	extensionAPIVersion  = "/2020-01-01"
	headerRequestID      = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline       = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN    = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID        = "Lambda-Runtime-Trace-Id"
	headerErrorType      = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody     = "Lambda-Runtime-Function-Error-Body"
	headerExtensionName  = "Lambda-Extension-Name"
	headerExtensionID    = "Lambda-Extension-Identifier"
	errorTypeTimeout     = "Sandbox.Timedout"
	errorTypeExit        = "Runtime.ExitError"
	errorTypeTooLarge    = "Function.ResponseSizeTooLarge"
	lambdaBuildDirPrefix = "e3sync-lambda-build-"
)

var (
	// ErrTimeout is wrapped when an invocation outlives its timeout (or a
	// runtime does not ask for work within Lambda's 10 s init limit). The
	// process has been killed, as Lambda does; the next Invoke starts a new one.
	ErrTimeout = errors.New("lambda task timed out")
	// ErrExited is wrapped when the function's process exits (or reports an
	// init error) before answering. The next Invoke starts a new one.
	ErrExited = errors.New("lambda runtime exited")
)

// Result is what Lambda's Invoke API returns for one invocation.
type Result struct {
	// Payload is the function's response, or for a function error the error
	// document ({"errorMessage":...,"errorType":...}).
	Payload []byte
	// FunctionError is true when the invocation failed (Invoke's
	// X-Amz-Function-Error: Unhandled).
	FunctionError bool
	// ErrorType is the errorType of a function error: the Go error's type
	// name for errors returned by a handler, Sandbox.Timedout,
	// Runtime.ExitError, Function.ResponseSizeTooLarge.
	ErrorType string
	// RequestID is the invocation's request id (lambdacontext.AwsRequestID).
	RequestID string
}

// Lambda is a function's bootstrap binary run under an emulated Lambda
// Runtime API on 127.0.0.1, one invocation at a time. Each process gets its
// own Runtime API server; after a timeout or a crash, the next Invoke starts
// a fresh process (a cold start), as Lambda does.
type Lambda struct {
	bootstrap string
	name      string
	arn       string
	env       map[string]string // without AWS_LAMBDA_RUNTIME_API and AWS_LAMBDA_LOG_STREAM_NAME
	logPath   string
	logFile   *os.File      // the processes' stdout and stderr, O_APPEND
	slot      chan struct{} // holds the one invocation in flight

	mu      sync.Mutex
	sb      *sandbox // the current process
	stopped bool

	eventsMu sync.Mutex // not l.mu: process exits are noted while l.mu waits for them
	events   []string   // process starts, exits and kills, for failure logs
}

// BuildLambda builds the Lambda function in package pkg (an import path, or
// a ./path from the module root) as it is deployed: a bootstrap binary built
// with -tags lambda.norpc, CGO_ENABLED=0, -trimpath, but for the host's OS
// and architecture, in a directory named like the package (the default
// function name). Tests in one test binary share each package's build (keyed
// by pkg as written). A failed build fails t with the compiler's output;
// without a go command t is skipped (failed when CI=true).
func BuildLambda(t testing.TB, pkg string) string {
	t.Helper()
	b := lambdaBuilds.get(pkg)
	b.once.Do(func() { b.path, b.err = buildLambda(pkg) })
	if b.err != nil {
		skipOrFail(t, b.err)
	}
	return b.path
}

type lambdaBuild struct {
	once sync.Once
	path string
	err  error
}

// lambdaBuildCache holds builds per package for the life of the test binary.
type lambdaBuildCache struct {
	sync.Mutex
	m map[string]*lambdaBuild
}

var lambdaBuilds = &lambdaBuildCache{m: map[string]*lambdaBuild{}}

func (c *lambdaBuildCache) get(pkg string) *lambdaBuild {
	c.Lock()
	defer c.Unlock()
	b := c.m[pkg]
	if b == nil {
		b = &lambdaBuild{}
		c.m[pkg] = b
	}
	return b
}

func buildLambda(pkg string) (string, error) {
	goBin, err := lookBinary("go")
	if err != nil {
		return "", err
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := lambdaBuildDir()
	if err != nil {
		return "", err
	}
	// One directory per package, named like it: the default function name.
	out, err := os.MkdirTemp(dir, "")
	if err != nil {
		return "", fmt.Errorf("build lambda %s: %w", pkg, err)
	}
	out = filepath.Join(out, path.Base(pkg))
	if err := os.Mkdir(out, 0o755); err != nil {
		return "", fmt.Errorf("build lambda %s: %w", pkg, err)
	}
	bin := filepath.Join(out, "bootstrap")
	cmd := exec.Command(goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return bin, nil
}

// moduleRoot is the directory holding the go.mod above the working
// directory (a test's package directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// lambdaBuildDir returns this test binary's directory for builds,
// $TMPDIR/e3sync-lambda-build-<pid>, after removing those of test binaries
// that are no longer running (a test binary has no exit hook to remove its
// own).
var lambdaBuildDir = sync.OnceValues(func() (string, error) {
	tmp := os.TempDir()
	old, _ := filepath.Glob(filepath.Join(tmp, lambdaBuildDirPrefix+"*"))
	for _, d := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), lambdaBuildDirPrefix))
		if err == nil && pid != os.Getpid() && !processAlive(pid) {
			os.RemoveAll(d)
		}
	}
	dir := filepath.Join(tmp, lambdaBuildDirPrefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("lambda build dir: %w", err)
	}
	return dir, nil
})

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// StartLambda starts the bootstrap binary under an emulated Lambda Runtime
// API for t, and stops it when t ends as Lambda's shutdown does (SIGKILL, or
// SIGTERM and SIGKILL 500 ms later when it registered an extension, as
// lambda.WithEnableSIGTERM does), after logging the tail of its output if t
// failed. The log file goes with t's temporary directories.
//
// The process sees only Lambda's variables (AWS_LAMBDA_RUNTIME_API,
// AWS_LAMBDA_FUNCTION_NAME (default: the name of bootstrap's directory),
// AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE (128),
// AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME, AWS_REGION and
// AWS_DEFAULT_REGION (us-east-1), _HANDLER, LAMBDA_TASK_ROOT, TZ, ...),
// PATH, HOME, TMPDIR and AWS_CA_BUNDLE from the test's environment, and env,
// whose values win. Nothing else is inherited, so no AWS credentials or
// profile: pass the function's credentials in env. AWS_CONFIG_FILE and
// AWS_SHARED_CREDENTIALS_FILE name empty files, AWS_ENDPOINT_URL points every
// service not configured by the caller at a closed loopback port, and AWS_EC2_METADATA_DISABLED
// is true, so the SDK cannot find the developer's or the CI host's
// credentials either.
func StartLambda(t testing.TB, bootstrap string, env map[string]string) *Lambda {
	t.Helper()
	dir := t.TempDir()
	l, err := newLambda(bootstrap, dir, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("lambda %s processes:\n%s\nlog %s (tail):\n%s", l.name, strings.Join(l.eventLog(), "\n"), l.logPath, l.logTail(4000))
		}
		l.logFile.Close()
	})
	return l
}

func newLambda(bootstrap, dir string, env map[string]string) (*Lambda, error) {
	bootstrap, err := filepath.Abs(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("start lambda: %w", err)
	}
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("start lambda: %w", err)
	}
	l := &Lambda{
		bootstrap: bootstrap,
		logPath:   filepath.Join(dir, "lambda.log"),
		slot:      make(chan struct{}, 1),
	}
	awsConfig := filepath.Join(dir, "aws-config-empty")
	if err := os.WriteFile(awsConfig, nil, 0o600); err != nil {
		return nil, fmt.Errorf("start lambda: %w", err)
	}
	// The processes write to the file itself, not through a pipe: what a
	// handler logged is in the file before its answer reaches Invoke.
	l.logFile, err = os.OpenFile(l.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start lambda: %w", err)
	}

	taskRoot := filepath.Dir(bootstrap)
	name := filepath.Base(taskRoot)
	if v := env["AWS_LAMBDA_FUNCTION_NAME"]; v != "" {
		name = v
	}
	l.env = map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": lambdaDefaultMemory,
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      Region,
		"AWS_DEFAULT_REGION":              Region,
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"TZ":                              ":UTC",
		"AWS_CONFIG_FILE":                 awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE":     awsConfig,
		"AWS_EC2_METADATA_DISABLED":       "true",
		// Any AWS service the test does not point somewhere explicitly
		// (AWS_ENDPOINT_URL_<SERVICE>) goes to a closed loopback port:
		// tests never reach a real AWS endpoint.
		"AWS_ENDPOINT_URL": "http://127.0.0.1:9",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "AWS_CA_BUNDLE"} {
		if v, ok := os.LookupEnv(k); ok {
			l.env[k] = v
		}
	}
	for k, v := range env {
		l.env[k] = v
	}
	l.name = name
	l.arn = "arn:aws:lambda:" + l.env["AWS_REGION"] + ":" + lambdaAccountID + ":function:" + name

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sb, err = l.start(); err != nil {
		l.logFile.Close()
		return nil, err
	}
	return l, nil
}

// Logs returns everything the function's processes wrote to stdout and
// stderr so far (log lines, EMF metric lines), across cold starts. What a
// handler wrote before answering is there when Invoke returns.
func (l *Lambda) Logs() string {
	b, err := os.ReadFile(l.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// PID returns the process id of the current (or last) function process.
func (l *Lambda) PID() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sb == nil {
		return 0
	}
	return l.sb.proc.cmd.Process.Pid
}

// FunctionARN is the ARN the function sees as its invoked function ARN.
func (l *Lambda) FunctionARN() string { return l.arn }

// Invoke invokes the function synchronously with payload and waits for its
// answer, at most timeout from when the runtime receives the invocation (a
// cold start's init does not count, as on Lambda). Invocations are
// serialised: a concurrent Invoke waits for the one in flight.
//
// A handler's error is not an error of Invoke: it is a Result with
// FunctionError set. Invoke returns an error wrapping ErrTimeout when the
// function does not answer in time, and one wrapping ErrExited, with the tail
// of the function's output, when its process exits first; in both cases the
// process is gone, the next Invoke starts a new one, and the Result is the
// function error Lambda would return (Sandbox.Timedout, Runtime.ExitError).
// When ctx ends while the function is running, the process is killed.
func (l *Lambda) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	if timeout <= 0 {
		return Result{}, fmt.Errorf("invoke %s: timeout %v, want > 0", l.name, timeout)
	}
	if len(payload) > lambdaMaxPayload {
		return Result{}, fmt.Errorf("invoke %s: payload of %d bytes exceeds Lambda's %d", l.name, len(payload), lambdaMaxPayload)
	}
	select {
	case l.slot <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { <-l.slot }()

	sb, err := l.sandbox()
	if err != nil {
		return Result{}, err
	}
	inv := &invocation{
		id:         newRequestID(),
		payload:    payload,
		timeout:    timeout,
		dispatched: make(chan struct{}),
		done:       make(chan struct{}),
	}

	// Hand the invocation to the runtime's GET .../invocation/next.
	initTimer := time.NewTimer(lambdaInitTimeout)
	defer initTimer.Stop()
	select {
	case sb.api.next <- inv:
	case <-sb.proc.done:
		return l.exited(sb, inv)
	case <-sb.api.initFailed:
		sb.kill()
		return l.exited(sb, inv)
	case <-initTimer.C:
		sb.kill()
		l.event("killed pid %d: no GET .../invocation/next within %v", sb.pid(), lambdaInitTimeout)
		return Result{RequestID: inv.id}, fmt.Errorf("invoke %s: runtime did not ask for an invocation within %v: %w; log %s:\n%s",
			l.name, lambdaInitTimeout, ErrTimeout, l.logPath, sb.proc.logTail(4000))
	case <-ctx.Done():
		return Result{}, ctx.Err() // not delivered: the process is untouched
	}
	<-inv.dispatched
	deadline := time.NewTimer(time.Until(inv.deadline))
	defer deadline.Stop()
	select {
	case <-inv.done:
		return inv.result, nil
	case <-sb.proc.done:
		return l.exited(sb, inv)
	case <-deadline.C:
		sb.kill()
		if inv.answered() { // answered as the deadline passed
			return inv.result, nil
		}
		l.event("killed pid %d: request %s timed out after %v", sb.pid(), inv.id, timeout)
		msg := fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, timeout.Seconds())
		return Result{Payload: errorDocument(errorTypeTimeout, msg), FunctionError: true, ErrorType: errorTypeTimeout, RequestID: inv.id},
			fmt.Errorf("invoke %s: request %s: %w after %v", l.name, inv.id, ErrTimeout, timeout)
	case <-ctx.Done():
		sb.kill()
		l.event("killed pid %d: request %s abandoned: %v", sb.pid(), inv.id, ctx.Err())
		return Result{RequestID: inv.id}, ctx.Err()
	}
}

// exited reports inv's end when sb's process has exited (or reported an init
// error and been killed): its answer if it gave one, else Runtime.ExitError
// or the init error, and an error wrapping ErrExited with the log's tail.
func (l *Lambda) exited(sb *sandbox, inv *invocation) (Result, error) {
	<-sb.proc.done
	if inv.answered() {
		return inv.result, nil
	}
	res := Result{FunctionError: true, RequestID: inv.id}
	if ie := sb.api.initError(); ie != nil {
		res.ErrorType, res.Payload = ie.ErrorType, ie.Payload
	} else {
		res.ErrorType = errorTypeExit
		res.Payload = errorDocument(errorTypeExit, fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v", inv.id, sb.proc.waitErr))
	}
	return res, fmt.Errorf("invoke %s: request %s: %w (%s: %v); log %s:\n%s",
		l.name, inv.id, ErrExited, res.ErrorType, sb.proc.waitErr, l.logPath, sb.proc.logTail(4000))
}

// sandbox returns the running process, starting a new one (a cold start) if
// the last one has exited or was killed.
func (l *Lambda) sandbox() (*sandbox, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil, fmt.Errorf("invoke %s: stopped", l.name)
	}
	if !l.sb.proc.exited() {
		return l.sb, nil
	}
	l.sb.kill() // closes its Runtime API
	sb, err := l.start()
	if err != nil {
		return nil, err
	}
	l.sb = sb
	return sb, nil
}

// start starts a Runtime API server and a process using it. l.mu is held.
func (l *Lambda) start() (*sandbox, error) {
	api, err := startRuntimeAPI(l.name, l.arn)
	if err != nil {
		return nil, fmt.Errorf("start lambda %s: %w", l.name, err)
	}
	env := make([]string, 0, len(l.env)+2)
	for k, v := range l.env {
		env = append(env, k+"="+v)
	}
	env = append(env, "AWS_LAMBDA_RUNTIME_API="+api.addr)
	if _, ok := l.env["AWS_LAMBDA_LOG_STREAM_NAME"]; !ok { // a new stream per process, as on Lambda
		env = append(env, "AWS_LAMBDA_LOG_STREAM_NAME="+time.Now().UTC().Format("2006/01/02")+"/[$LATEST]"+randomHex(16))
	}
	slices.Sort(env)

	cmd := exec.Command(l.bootstrap)
	cmd.Dir = filepath.Dir(l.bootstrap)
	cmd.Env = env
	cmd.Stdout = l.logFile
	cmd.Stderr = l.logFile
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		api.close()
		return nil, fmt.Errorf("start lambda %s: %w", l.name, err)
	}
	p := &process{name: "lambda " + l.name, cmd: cmd, logPath: l.logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		l.event("pid %d exited: %v", cmd.Process.Pid, p.waitErr)
		close(p.done)
	}()
	l.event("started pid %d, runtime API %s", cmd.Process.Pid, api.addr)
	return &sandbox{api: api, proc: p}, nil
}

// stop shuts the function down as Lambda does and closes its Runtime API.
// Invocations after it fail.
func (l *Lambda) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.sb.shutdown()
}

// logTail returns the last n bytes of the log file: the function's output
// and the lines marking process starts and kills.
func (l *Lambda) logTail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.proc.logTail(n)
}

// sandbox is one function process and the Runtime API server it polls.
type sandbox struct {
	api  *runtimeAPI
	proc *process
}

func (sb *sandbox) pid() int { return sb.proc.cmd.Process.Pid }

// shutdown ends the process as Lambda's shutdown phase does: SIGKILL, or,
// when an extension registered (aws-lambda-go's lambda.WithEnableSIGTERM
// registers one), SIGTERM and SIGKILL 500 ms later. It waits for the process
// and closes its Runtime API.
func (sb *sandbox) shutdown() {
	if sb.api.hasExtensions() {
		_ = sb.proc.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-sb.proc.done:
		case <-time.After(lambdaShutdownGrace):
		}
	}
	sb.kill()
}

// kill kills the process at once, as Lambda does at a timeout, waits for it
// and closes its Runtime API.
func (sb *sandbox) kill() {
	_ = sb.proc.cmd.Process.Kill()
	<-sb.proc.done
	sb.api.close()
}

// invocation is one queued invocation.
type invocation struct {
	id      string
	payload []byte
	timeout time.Duration

	deadline   time.Time     // set before dispatched is closed
	dispatched chan struct{} // closed when the runtime has received it
	done       chan struct{} // closed when result is set
	result     Result
	finishOnce sync.Once
}

func (inv *invocation) finish(r Result) {
	inv.finishOnce.Do(func() {
		r.RequestID = inv.id
		inv.result = r
		close(inv.done)
	})
}

func (inv *invocation) answered() bool {
	select {
	case <-inv.done:
		return true
	default:
		return false
	}
}

// runtimeAPI is a Lambda Runtime API server
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) on
// 127.0.0.1 for one process. It also accepts extension registrations (which
// aws-lambda-go makes for lambda.WithEnableSIGTERM), whose event/next never
// answers, as for an extension registered for no events.
type runtimeAPI struct {
	name       string // function name
	arn        string
	addr       string // 127.0.0.1:port
	srv        *http.Server
	next       chan *invocation // unbuffered: a send is a delivery to GET .../next
	closed     chan struct{}
	closeOnce  sync.Once
	initFailed chan struct{} // closed by POST .../init/error

	mu         sync.Mutex
	current    *invocation // delivered and not answered
	started    bool        // the runtime has asked for an invocation: init is over
	initErr    *Result
	extensions int // registered
}

func startRuntimeAPI(name, arn string) (*runtimeAPI, error) {
	// Listen on port 0 rather than FreePort: no other process can take the
	// port between choosing and binding it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API: %w", err)
	}
	a := &runtimeAPI{
		name:       name,
		arn:        arn,
		addr:       ln.Addr().String(),
		next:       make(chan *invocation),
		closed:     make(chan struct{}),
		initFailed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIVersion+"/runtime/invocation/next", a.handleNext)
	mux.HandleFunc("POST "+runtimeAPIVersion+"/runtime/invocation/{id}/response", a.handleResponse)
	mux.HandleFunc("POST "+runtimeAPIVersion+"/runtime/invocation/{id}/error", a.handleError)
	mux.HandleFunc("POST "+runtimeAPIVersion+"/runtime/init/error", a.handleInitError)
	mux.HandleFunc("POST "+extensionAPIVersion+"/extension/register", a.handleExtensionRegister)
	mux.HandleFunc("GET "+extensionAPIVersion+"/extension/event/next", a.handleExtensionNext)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

// close stops the server, ending pending GET .../next requests. It is safe
// to call more than once.
func (a *runtimeAPI) close() {
	a.closeOnce.Do(func() {
		close(a.closed)
		a.srv.Close()
	})
}

func (a *runtimeAPI) hasExtensions() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.extensions > 0
}

func (a *runtimeAPI) initError() *Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.initErr
}

// handleNext blocks until an invocation is queued and delivers it.
func (a *runtimeAPI) handleNext(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	var inv *invocation
	select {
	case inv = <-a.next:
	case <-r.Context().Done():
		return
	case <-a.closed:
		return
	}
	inv.deadline = time.Now().Add(inv.timeout)
	a.mu.Lock()
	a.current = inv
	a.mu.Unlock()
	close(inv.dispatched)

	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, a.arn)
	h.Set(headerTraceID, fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8)))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// answering returns the invocation a POST for request id answers and stops
// it from being answered again, or renders the Runtime API's error: 403
// InvalidStateTransition when no invocation awaits an answer, 400
// InvalidRequestID for another id.
func (a *runtimeAPI) answering(w http.ResponseWriter, id string) (*invocation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.current == nil:
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "no invocation awaits a response")
		return nil, false
	case a.current.id != id:
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return nil, false
	}
	inv := a.current
	a.current = nil
	return inv, true
}

func (a *runtimeAPI) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv, ok := a.answering(w, r.PathValue("id"))
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, lambdaMaxPayload+1))
	if err != nil {
		return // the runtime is gone; Invoke sees its exit
	}
	if len(body) > lambdaMaxPayload {
		msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", lambdaMaxPayload)
		inv.finish(Result{Payload: errorDocument(errorTypeTooLarge, msg), FunctionError: true, ErrorType: errorTypeTooLarge})
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", msg)
		return
	}
	// A streamed body that failed midway ends with the error in trailers.
	if typ := r.Trailer.Get(headerErrorType); typ != "" {
		doc, err := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody))
		if err != nil || len(doc) == 0 {
			doc = errorDocument(typ, "")
		}
		inv.finish(Result{Payload: doc, FunctionError: true, ErrorType: typ})
	} else {
		inv.finish(Result{Payload: body})
	}
	writeAccepted(w)
}

func (a *runtimeAPI) handleError(w http.ResponseWriter, r *http.Request) {
	inv, ok := a.answering(w, r.PathValue("id"))
	if !ok {
		return
	}
	doc, typ, err := readErrorDocument(r)
	if err != nil {
		return
	}
	inv.finish(Result{Payload: doc, FunctionError: true, ErrorType: typ})
	writeAccepted(w)
}

func (a *runtimeAPI) handleInitError(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.initErr != nil {
		writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "init is over")
		return
	}
	doc, typ, err := readErrorDocument(r)
	if err != nil {
		return
	}
	a.initErr = &Result{Payload: doc, FunctionError: true, ErrorType: typ}
	close(a.initFailed)
	writeAccepted(w)
}

func (a *runtimeAPI) handleExtensionRegister(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(headerExtensionName) == "" {
		writeAPIError(w, http.StatusForbidden, "Extension.InvalidExtensionName", "missing "+headerExtensionName)
		return
	}
	a.mu.Lock()
	a.extensions++
	a.mu.Unlock()
	w.Header().Set(headerExtensionID, newRequestID())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"functionName": a.name, "functionVersion": "$LATEST", "handler": "bootstrap"})
}

func (a *runtimeAPI) handleExtensionNext(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-a.closed:
	}
}

// readErrorDocument reads an error POST: the error document and its
// errorType, from the Lambda-Runtime-Function-Error-Type header or else the
// document.
func readErrorDocument(r *http.Request) ([]byte, string, error) {
	doc, err := io.ReadAll(io.LimitReader(r.Body, lambdaMaxPayload))
	if err != nil {
		return nil, "", err
	}
	typ := r.Header.Get(headerErrorType)
	if typ == "" {
		var e struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(doc, &e)
		typ = e.ErrorType
	}
	if typ == "" {
		typ = "Runtime.Unknown"
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = errorDocument(typ, "")
	}
	return doc, typ, nil
}

func errorDocument(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{typ, msg})
	return b
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`+"\n")
}

func writeAPIError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorDocument(typ, msg))
}

// newRequestID returns a random UUID (version 4), the form of Lambda's
// request ids.
func newRequestID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(errors.Join(errors.New("testenv: random"), err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (l *Lambda) event(format string, args ...any) {
	l.eventsMu.Lock()
	defer l.eventsMu.Unlock()
	l.events = append(l.events, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

func (l *Lambda) eventLog() []string {
	l.eventsMu.Lock()
	defer l.eventsMu.Unlock()
	return slices.Clone(l.events)
}
