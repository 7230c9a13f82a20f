package testenv

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nobody is the unprivileged user (and group) AsNobody runs tests as.
const nobody = "65534"

// envNobody names the test a copy of the test binary runs as nobody.
const envNobody = "E3SYNC_TEST_AS_NOBODY"

// AsNobody makes the rest of t run as an unprivileged user, for tests of
// file permissions (root ignores them). It returns true where the test's
// body should run: in a process that is not root. As root it runs t again
// in a copy of the test binary under setpriv as nobody (65534, no groups),
// fails t if that run fails, and returns false. Without setpriv the test is
// skipped, or fails when CI=true.
//
//	if !testenv.AsNobody(t) {
//		return
//	}
func AsNobody(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envNobody) == t.Name() || os.Geteuid() != 0 {
		return true
	}
	setpriv, err := lookBinary("setpriv")
	if err != nil {
		skipOrFail(t, err)
	}
	// The go tool's build directory is private to root: copy the binary
	// where nobody may run it.
	dir, err := os.MkdirTemp("", "e3sync-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid="+nobody, "--regid="+nobody, "--clear-groups",
		bin, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envNobody+"="+t.Name(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s as nobody: %v\n%s", t.Name(), err, out)
	} else {
		t.Logf("%s as nobody:\n%s", t.Name(), out)
	}
	return false
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
