package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/e3sync/e3sync/internal/testenv"
)

// Which errors are permanent (not retried) and which of those refuse the
// whole destination (stop the run), one row per line of the table in
// refused.go.
func TestPermanent(t *testing.T) {
	path := func(errno syscall.Errno) error {
		return fmt.Errorf("write /d/k: %w", &fs.PathError{Op: "open", Path: "/d/k", Err: errno})
	}
	refused := &RefusedError{Store: "s3://b/", Op: "PutObject", Reason: "access denied (AccessDenied)", Fix: "allow it"}
	for _, c := range []struct {
		name               string
		err                error
		permanent, refuses bool
	}{
		{"refusal", fmt.Errorf("copy k: %w", refused), true, true},
		{"EACCES", refusedPath("/d/", "write", path(syscall.EACCES)), true, true},
		{"EPERM", refusedPath("/d/", "write", path(syscall.EPERM)), true, true},
		{"EROFS", refusedPath("/d/", "write", path(syscall.EROFS)), true, true},
		{"ENOSPC", refusedPath("/d/", "write", path(syscall.ENOSPC)), true, true},
		{"EDQUOT", refusedPath("/d/", "write", path(syscall.EDQUOT)), true, true},
		{"invalid key", fmt.Errorf("write: %w", ErrInvalidKey), true, false},
		{"key with a '..' segment", checkKey("a/../b"), true, false},
		{"key reserved for partial files", func() error {
			_, err := (&Dir{root: "/d"}).Write(context.Background(), "a"+tmpSuffix, 0, strings.NewReader(""), nil)
			return err
		}(), true, false},
		{"ENAMETOOLONG", refusedPath("/d/", "write", path(syscall.ENAMETOOLONG)), true, false},
		{"ENOTDIR", refusedPath("/d/", "write", path(syscall.ENOTDIR)), true, false},
		{"EISDIR", path(syscall.EISDIR), true, false},
		{"EILSEQ", path(syscall.EILSEQ), true, false},
		{"EIO", refusedPath("/d/", "write", path(syscall.EIO)), false, false},
		{"size mismatch", fmt.Errorf("write: %w", ErrSizeMismatch), false, false},
		{"other", errors.New("connection reset by peer"), false, false},
		{"nil", nil, false, false},
	} {
		if got := Permanent(c.err); got != c.permanent {
			t.Errorf("%s: Permanent(%v) = %v, want %v", c.name, c.err, got, c.permanent)
		}
		if got := Refused(c.err) != nil; got != c.refuses {
			t.Errorf("%s: Refused(%v) = %v, want refused %v", c.name, c.err, Refused(c.err), c.refuses)
		}
	}
}

// A directory the user may not write is refused with a message that says
// what to fix: by the probe (which leaves nothing behind), by a write into a
// read-only folder below the root, by a listing of a folder it may not read,
// and when the root cannot be created. Runs as nobody: root ignores
// permissions.
func TestDirRefusals(t *testing.T) {
	if !testenv.AsNobody(t) {
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	const fix = "give the user running e3sync read and write access to "

	d, err := NewDir(ro)
	if err != nil {
		t.Fatalf("NewDir(read-only) = %v; the directory exists", err)
	}
	err = d.ProbeWrite(ctx)
	if re := Refused(err); re == nil || !strings.Contains(err.Error(), "permission denied: "+fix+ro) {
		t.Errorf("ProbeWrite() = %v; want a refusal saying what to fix", err)
	}
	if _, err := d.Write(ctx, "type=events/a", 1, strings.NewReader("a"), nil); Refused(err) == nil {
		t.Errorf("Write() = %v; want a refusal", err)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("the read-only directory holds %v; want nothing", entries)
	}

	_, err = NewDir(filepath.Join(ro, "sub"))
	if Refused(err) == nil || !strings.Contains(err.Error(), fix) {
		t.Errorf("NewDir(below a read-only directory) = %v; want a refusal", err)
	}

	rw := filepath.Join(base, "rw")
	d, err = NewDir(rw)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ProbeWrite(ctx); err != nil {
		t.Errorf("ProbeWrite(writable) = %v", err)
	}
	if entries, _ := os.ReadDir(rw); len(entries) != 0 {
		t.Errorf("the probe left %v", entries)
	}
	for _, sub := range []string{"type=events", "type=decisions"} {
		if err := os.Mkdir(filepath.Join(rw, sub), 0o500); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(rw, "type=decisions"), 0)
	t.Cleanup(func() {
		os.Chmod(filepath.Join(rw, "type=events"), 0o755)
		os.Chmod(filepath.Join(rw, "type=decisions"), 0o755)
	})
	if _, err := d.Write(ctx, "type=events/date=2024-01-02/a", 1, strings.NewReader("a"), nil); Refused(err) == nil || !strings.Contains(err.Error(), fix) {
		t.Errorf("Write(below a read-only folder) = %v; want a refusal", err)
	}
	if _, err := d.List(ctx, "type=decisions/", false); Refused(err) == nil {
		t.Errorf("List(unreadable folder) = %v; want a refusal", err)
	}
}
