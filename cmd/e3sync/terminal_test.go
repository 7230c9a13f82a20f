package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/creack/pty"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
)

// hangGuard bounds waits that only guard against a hang; never a speed
// target.
const hangGuard = 3 * time.Minute

// buildCLI builds the e3sync binary for tests that run it as a process.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "e3sync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// terminal is e3sync running on a pseudo-terminal, as in a user's shell.
type terminal struct {
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // the output is read to its end
}

// startTerminal runs bin with args and env on a new pseudo-terminal of 160
// columns.
func startTerminal(t *testing.T, bin string, env []string, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{cmd: cmd, tty: tty, done: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); tty.Close() }) // no-ops once it has ended
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the output matches re.
func (term *terminal) waitFor(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !re.MatchString(term.output()) {
		select {
		case <-term.done:
			t.Fatalf("e3sync ended without %q on the terminal:\n%q", re, term.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal within %v:\n%q", re, hangGuard, term.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait waits for the process to end and returns its exit code.
func (term *terminal) wait(t *testing.T) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- term.cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		select { // the rest of the output
		case <-term.done:
		case <-time.After(5 * time.Second):
		}
		return term.cmd.ProcessState.ExitCode()
	case <-time.After(hangGuard):
		t.Fatalf("e3sync did not end within %v:\n%q", hangGuard, term.output())
		return -1
	}
}

// cliEnv is the process environment of e3sync run as a binary in world w,
// with the source behind the proxy at sourceEndpoint.
func (w *world) cliEnv(t *testing.T, sourceEndpoint string, extra ...string) []string {
	home := t.TempDir()
	return append([]string{
		"HOME=" + home,
		"TERM=xterm",
		"PATH=" + os.Getenv("PATH"),
		"OPTIMIZELY_TOKEN=" + token,
		"OPTIMIZELY_API_URL=" + w.APIURL,
		"SOURCE_S3_ENDPOINT=" + sourceEndpoint,
		"AWS_ENDPOINT_URL_S3=" + w.MinIO.Endpoint(),
		"AWS_ENDPOINT_URL=http://127.0.0.1:9",
		"AWS_ACCESS_KEY_ID=" + testworld.CustomerKey,
		"AWS_SECRET_ACCESS_KEY=" + testworld.CustomerSecret,
		"AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}, extra...)
}

// In a terminal, sync draws a bar by bytes and objects with a rate and the
// time left, log lines go above it, never into it; Ctrl-C stops the run
// with one line and exit 130, leaves nothing partial, and the same command
// then completes the mirror. NO_COLOR, --quiet and --json draw no bar.
func TestTerminalProgressAndCtrlC(t *testing.T) {
	built := make(chan string, 1)
	go func() { built <- buildCLI(t) }()
	w := newWorld(t, 0)
	var dates []string
	for i := 0; i < 3; i++ {
		d := day(-5 + i)
		dates = append(dates, d)
		for e := 0; e < 4; e++ {
			for o := 0; o < 3; o++ {
				w.put(fmt.Sprintf("type=events/date=%s/event=e%d/part-%05d-x.c000.snappy.parquet", d, e, o), randBytes(600_000, int64(100*i+10*e+o)))
			}
		}
		w.put("type=events/date="+d+"/_SUCCESS", nil)
	}
	// Each GET of the export waits, so that the run lasts long enough to
	// be seen and interrupted half-way.
	proxy, err := testenv.NewFaultProxy(w.MinIO.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.SetRules(testenv.FaultRule{Op: testenv.OpGetObject, Kind: testenv.FaultLatency, KeyContains: "type=events/", Latency: 400 * time.Millisecond})
	bin := <-built
	dest := "s3://" + dstBucket + "/" + dstPrefix
	env := w.cliEnv(t, proxy.URL)

	term := startTerminal(t, bin, env, "sync", "--dest", dest, "--types", "events", "--concurrency", "2", "--task-concurrency", "2")
	// The bar, once something is copied: objects, bytes of the total, rate
	// and time left.
	term.waitFor(t, regexp.MustCompile(`\r\d+/\d+ objects \(\d+/12 sub-partitions listed\) +[1-9]\d?% \|█+ *\| \([\d.]+/[\d.]+ MiB, [\d.]+ [KM]iB/s\) \[\d+s:\d+s\]`))
	if _, err := term.tty.Write([]byte{3}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	code := term.wait(t)
	text := term.output()
	if code != 130 {
		t.Errorf("exit %d after Ctrl-C, want 130:\n%s", code, text)
	}
	line := regexp.MustCompile(`[\r\n]interrupted after (\d+) objects?; run the same command to continue\r\n$`)
	m := line.FindStringSubmatch(text)
	if m == nil || strings.Count(text, "interrupted") != 1 {
		t.Errorf("the output does not end with one interruption line:\n%q", text)
	}
	for _, bad := range []string{"context canceled", "task failed", "errors;", "SDK "} {
		if strings.Contains(text, bad) {
			t.Errorf("after Ctrl-C the output holds %q:\n%s", bad, text)
		}
	}
	// Log lines start on a line of their own and end before the bar is
	// drawn again: the bar never shares a line with them.
	logLine := regexp.MustCompile(`time=\S+ level=[A-Z]+ msg=[^\n]*`)
	logs := logLine.FindAllStringIndex(text, -1)
	if len(logs) == 0 {
		t.Errorf("no log line on the terminal:\n%q", text)
	}
	for _, l := range logs {
		if l[0] > 0 && text[l[0]-1] != '\r' && text[l[0]-1] != '\n' {
			t.Errorf("a log line does not start a line: %q", text[max(0, l[0]-60):l[1]])
		}
		if s := text[l[0]:l[1]]; strings.ContainsAny(s, "|█") && !strings.Contains(s, `"`) {
			t.Errorf("a log line holds the bar: %q", s)
		}
	}

	// Nothing partial: no open upload, every object there is whole, no
	// _SUCCESS for a date not fully copied; the count printed is right.
	ctx := context.Background()
	ups, err := w.Root.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(dstBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) > 0 {
		t.Errorf("%d multipart uploads left open", len(ups.Uploads))
	}
	src, dst := objects(t, w.Root, srcBucket, acctPrefix), objects(t, w.Root, dstBucket, dstPrefix)
	copied := 0
	for k, sum := range dst {
		if strings.HasPrefix(k, "_e3sync/") {
			continue
		}
		if strings.HasSuffix(k, "_SUCCESS") {
			date := strings.TrimSuffix(k, "_SUCCESS")
			for sk := range src {
				if strings.HasPrefix(sk, date) && dst[sk] == "" {
					t.Errorf("%s written, but %s is not copied", k, sk)
				}
			}
			continue
		}
		copied++
		if src[k] != sum {
			t.Errorf("destination %s differs from the source", k)
		}
	}
	if m != nil && m[1] != fmt.Sprint(copied) {
		t.Errorf("interrupted after %s objects, the destination has %d", m[1], copied)
	}
	if copied == 0 || copied == 36 {
		t.Errorf("%d of 36 objects copied when interrupted: want some, not all", copied)
	}

	// No bar where plain output is asked for; the same command completes.
	proxy.SetRules()
	for _, tt := range []struct {
		args  []string
		extra []string
	}{
		{[]string{"--quiet"}, nil},
		{[]string{"--json"}, nil},
		{nil, []string{"NO_COLOR=1"}},
	} {
		term := startTerminal(t, bin, append(env, tt.extra...), append([]string{"sync", "--dest", dest, "--types", "events"}, tt.args...)...)
		code := term.wait(t)
		text := term.output()
		if code != 0 || strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), "\r") || strings.Contains(text, "█") {
			t.Errorf("sync %q %q on a terminal: exit %d, want 0 and no bar:\n%q", tt.args, tt.extra, code, text)
		}
	}
	// Off a terminal (stderr a pipe), the plain log lines and summary.
	plain := exec.Command(bin, "sync", "--dest", dest, "--types", "events")
	plain.Env = env
	var pipeOut bytes.Buffer
	plain.Stdout, plain.Stderr = &pipeOut, &pipeOut
	if err := plain.Run(); err != nil || strings.Contains(pipeOut.String(), "\r") || !strings.Contains(pipeOut.String(), "level=INFO msg=planned") {
		t.Errorf("sync with stderr a pipe: %v, want the plain log lines and no bar:\n%q", err, pipeOut.String())
	}
	w.assertMirror(t, "type=events/date="+dates[0]+"/", "type=events/date="+dates[1]+"/", "type=events/date="+dates[2]+"/")
}

// A second Ctrl-C exits at once, even when the first one's clean-up does
// not end (the helper below never returns after the first).
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	if os.Getenv("E3SYNC_INTERRUPT_HELPER") == "1" {
		ctx, stop := notifyInterrupt(context.Background(), os.Stderr)
		defer stop()
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("first signal: cleaning up")
		select {} // a clean-up that hangs
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondInterruptExitsAtOnce$")
	cmd.Env = append(os.Environ(), "E3SYNC_INTERRUPT_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	r := newLineReader(out)
	r.expect(t, "ready")
	cmd.Process.Signal(syscall.SIGTERM)
	r.expect(t, "first signal: cleaning up")
	cmd.Process.Signal(os.Interrupt)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(hangGuard):
		t.Fatal("the second signal did not end the process")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "interrupted again: exiting at once") {
		t.Errorf("after a second signal: exit %d, stderr %q; want 130 and the message", code, stderr.String())
	}
}

type lineReader struct{ lines chan string }

func newLineReader(r io.Reader) *lineReader {
	l := &lineReader{lines: make(chan string, 16)}
	go func() {
		defer close(l.lines)
		buf := make([]byte, 0, 256)
		b := make([]byte, 1)
		for {
			if _, err := r.Read(b); err != nil {
				return
			}
			if b[0] == '\n' {
				l.lines <- string(buf)
				buf = buf[:0]
			} else {
				buf = append(buf, b[0])
			}
		}
	}()
	return l
}

func (l *lineReader) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-l.lines:
		if got != want {
			t.Fatalf("helper printed %q, want %q", got, want)
		}
	case <-time.After(hangGuard):
		t.Fatalf("helper did not print %q", want)
	}
}
