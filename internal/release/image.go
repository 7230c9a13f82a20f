// Package release builds the e3sync CLI's container image without a
// container engine: an empty base, one layer with the files a static Go
// binary needs (CA certificates, /etc/passwd with the non-root user,
// its home and /tmp) and one layer with the binary, written as an image
// tarball that `docker load`, `podman load` and `crane push` accept.
package release

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Paths and the user inside the image.
const (
	BinaryPath = "/usr/local/bin/e3sync"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt"
	UID        = 65532 // "nonroot", as in distroless images
	User       = "65532:65532"
	Home       = "/home/nonroot"
)

// ImageOptions say what goes into the image.
type ImageOptions struct {
	Binary  string // a static (CGO_ENABLED=0) linux e3sync binary
	CA      string // the CA bundle to copy, e.g. Debian's /etc/ssl/certs/ca-certificates.crt
	Arch    string // GOARCH of Binary: amd64, arm64
	Version string // the release version, also a label
	// Created is the time stamped on the image and its files; a fixed
	// value (zero: the Unix epoch) makes the build reproducible.
	Created time.Time
}

// Image builds the image.
func Image(o ImageOptions) (v1.Image, error) {
	if o.Arch == "" || o.Version == "" {
		return nil, fmt.Errorf("image: arch and version are required")
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC()
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: binary: %w", err)
	}
	ca, err := os.ReadFile(o.CA)
	if err != nil {
		return nil, fmt.Errorf("image: CA certificates: %w", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("image: %s holds no PEM certificate", o.CA)
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, UID, Home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID)
	base, err := layer(o.Created, []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: CAPath[1:], mode: 0o644, body: ca},
		{name: "home/", mode: 0o755},
		{name: Home[1:] + "/", mode: 0o700, owner: UID},
		{name: "tmp/", mode: 0o1777},
	})
	if err != nil {
		return nil, err
	}
	app, err := layer(o.Created, []entry{
		{name: "usr/", mode: 0o755},
		{name: "usr/local/", mode: 0o755},
		{name: "usr/local/bin/", mode: 0o755},
		{name: BinaryPath[1:], mode: 0o755, body: bin},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, base, app)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"help"},
		WorkingDir: Home,
		Env:        []string{"HOME=" + Home, "SSL_CERT_FILE=" + CAPath},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "e3sync",
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.licenses": "Apache-2.0",
			"org.opencontainers.image.description": "Keeps an S3 bucket in sync with an Optimizely " +
				"Experimentation Events Export",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// WriteTarball writes img to path as an image tarball tagged
// e3sync:<version>.
func WriteTarball(path string, img v1.Image, version string) error {
	tag, err := name.NewTag("e3sync:" + version)
	if err != nil {
		return fmt.Errorf("image tag: %w", err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		os.Remove(path) // nothing half-written
		return fmt.Errorf("write image %s: %w", path, err)
	}
	return nil
}

// entry is one file or directory (name ending in "/") of a layer.
type entry struct {
	name  string
	mode  int64
	owner int
	body  []byte
}

func layer(created time.Time, entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.owner, Gid: e.owner, ModTime: created,
			Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX,
		}
		if e.name[len(e.name)-1] == '/' {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("image layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return l, nil
}
