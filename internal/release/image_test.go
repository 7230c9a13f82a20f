package release

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const testVersion = "v0.0.0-imagetest"

// TestMakeImage builds the image with `make image` for this machine's
// architecture only, unpacks it and runs the CLI from it.
func TestMakeImage(t *testing.T) {
	arch := runtime.GOARCH
	if runtime.GOOS != "linux" || (arch != "amd64" && arch != "arm64") {
		t.Skipf("the image is linux/amd64 or linux/arm64; this is %s/%s", runtime.GOOS, arch)
	}
	dist := t.TempDir()
	mk := exec.Command("make", "-s", "-C", "../..", "image", "DIST="+dist, "IMAGE_ARCHS="+arch, "VERSION="+testVersion)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	img, err := tarball.ImageFromPath(filepath.Join(dist, "e3sync-image-"+arch+".tar"), nil)
	if err != nil {
		t.Fatal(err)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("User = %q, want the non-root 65532:65532", cf.Config.User)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/usr/local/bin/e3sync"}) {
		t.Errorf("Entrypoint = %q, want [/usr/local/bin/e3sync]", cf.Config.Entrypoint)
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != testVersion {
		t.Errorf("labels = %v, want the version %s", cf.Config.Labels, testVersion)
	}

	root := filepath.Join(t.TempDir(), "rootfs")
	files := unpack(t, img, root)
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, ok := files[shell]; ok {
			t.Errorf("the image has a shell: /%s", shell)
		}
	}
	if h := files["usr/local/bin/e3sync"]; h == nil || h.Mode&0o111 != 0o111 || h.Uid != 0 {
		t.Errorf("binary entry = %+v; want an executable owned by root", h)
	}
	if h := files["home/nonroot"]; h == nil || h.Uid != UID {
		t.Errorf("home entry = %+v; want a directory owned by %d", h, UID)
	}
	hostCA, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); err != nil || !bytes.Equal(got, hostCA) {
		t.Errorf("CA bundle in the image: %d bytes, %v; want the machine's %d bytes", len(got), err, len(hostCA))
	}
	if passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd")); err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q, %v; want the nonroot user 65532", passwd, err)
	}

	bin := filepath.Join(root, "usr/local/bin/e3sync")
	assertStatic(t, bin)
	// Run it from the unpacked image, as root and as the image's user.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{bin, "version"}, "e3sync " + testVersion + "\n"},
		{[]string{bin, "help"}, "Usage:\n  e3sync plan"},
		{[]string{"setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", bin, "version"}, "e3sync " + testVersion + "\n"},
	} {
		cmd := exec.Command(c.args[0], c.args[1:]...)
		cmd.Env = []string{"HOME=/home/nonroot", "SSL_CERT_FILE=" + filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v\n%s\nwant %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}

// unpack writes the image's flattened file system under root (readable by
// everyone, so that the non-root user can run the binary) and returns its
// entries by name.
func unpack(t *testing.T, img v1.Image, root string) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Clean(h.Name), "/")
		if !filepath.IsLocal(name) {
			t.Fatalf("image entry %q leaves the root", h.Name)
		}
		files[name] = h
		p := filepath.Join(root, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, os.FileMode(h.Mode)&0o755|0o444); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("image entry %q has type %c; want only files and directories", h.Name, h.Typeflag)
		}
	}
	// The temporary directories above root are private to root.
	for d := root; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return files
}

// assertStatic checks that the binary needs no dynamic loader or library:
// the image has none.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not a static binary", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}
