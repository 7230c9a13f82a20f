// Package testenv runs the real components that tests of this module talk to,
// all on 127.0.0.1: a MinIO server (S3 and STS), moto_server (Secrets Manager,
// SQS, CloudWatch), and an S3 proxy that enforces the short credential
// lifetimes MinIO cannot.
//
// Servers are child processes started on free loopback ports and stopped by
// their PID. When a binary is missing, the ...ForTest helpers skip the test,
// or fail it when CI=true; scripts/test-tools.sh installs what is missing.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// ErrNotInstalled is wrapped when a binary the tests need cannot be found.
var ErrNotInstalled = errors.New("not installed (run scripts/test-tools.sh)")

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// skipOrFail skips t because err says a tool is missing, or fails it on CI
// (CI=true), where a missing tool is a broken setup rather than a choice.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	t.Fatal(err)
}

// lookBinary returns the first candidate path that is an executable file, or
// else name found on PATH.
func lookBinary(name string, candidates ...string) (string, error) {
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotInstalled)
}

// cacheDir is $E3SYNC_CACHE, by default $HOME/.cache/e3sync.
func cacheDir() string {
	if d := os.Getenv("E3SYNC_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "e3sync")
}

// process is a server child process with its output in a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited and been waited for
	waitErr error

	stopOnce sync.Once
}

// startProcess starts bin with args and env (added to a copy of the current
// environment without variables starting with any of dropEnvPrefixes),
// writing stdout and stderr to logPath.
func startProcess(name, bin string, args, env, dropEnvPrefixes []string, logPath string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		drop := false
		for _, p := range dropEnvPrefixes {
			drop = drop || strings.HasPrefix(kv, p)
		}
		if !drop {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	dieWithParent(cmd)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process, then SIGKILL after 5 seconds, and waits
// for it to exit. It is safe to call more than once.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the last n bytes of the process's output.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitReady polls url until ready accepts the response, the process exits,
// ctx ends, or timeout passes.
func (p *process) waitReady(ctx context.Context, url string, timeout time.Duration, ready func(*http.Response) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if ready(resp) {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); log %s:\n%s", p.name, p.waitErr, p.logPath, p.logTail(4000))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; log %s:\n%s", p.name, url, ctx.Err(), p.logPath, p.logTail(4000))
		case <-tick.C:
		}
	}
}

// server is a started test server (*MinIO, *Moto).
type server interface {
	Stop()
	logs() *process
}

// daemon is what every test server is: a process answering on endpoint
// (http://127.0.0.1:port), with its files in dir, which Stop removes.
type daemon struct {
	proc     *process
	dir      string
	endpoint string
}

// run starts the daemon's process, logging to logName in its dir, and
// waits up to timeout until endpoint+readyPath answers as ready says. On
// failure nothing is left running and dir is removed.
func (d *daemon) run(ctx context.Context, name, bin string, args, env, dropEnvPrefixes []string, logName, readyPath string,
	timeout time.Duration, ready func(*http.Response) bool) error {
	var err error
	d.proc, err = startProcess(name, bin, args, env, dropEnvPrefixes, filepath.Join(d.dir, logName))
	if err != nil {
		os.RemoveAll(d.dir)
		return err
	}
	if err := d.proc.waitReady(ctx, d.endpoint+readyPath, timeout, ready); err != nil {
		d.Stop()
		return err
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 5s), waits for it and
// removes its files. It is safe to call more than once.
func (d *daemon) Stop() {
	d.proc.stop()
	os.RemoveAll(d.dir)
}

func (d *daemon) logs() *process { return d.proc }

// startRetrying runs start up to three times while it fails because its free
// port was taken between FreePort and the server's bind.
func startRetrying[S server](ctx context.Context, start func(context.Context) (S, error)) (S, error) {
	var lastErr error
	for range 3 {
		s, err := start(ctx)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	var zero S
	return zero, lastErr
}

// serverForTest starts a server for t within timeout and stops it when t
// ends, after logging the tail of its output if t failed. Without its
// binary the test is skipped, or fails when CI=true.
func serverForTest[S server](t testing.TB, name string, timeout time.Duration, start func(context.Context) (S, error)) S {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := start(ctx)
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log %s (tail):\n%s", name, s.logs().logPath, s.logs().logTail(4000))
		}
		s.Stop()
	})
	return s
}

// Opener is any store's Open.
type Opener interface {
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// ReadAll reads the whole object at key, failing t on any error.
func ReadAll(t testing.TB, s Opener, key string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Open(%q) read error = %v", key, err)
	}
	return b
}

// APICode returns the API error code of err (e.g. "AccessDenied"), or "".
func APICode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
