// Command ociimage writes the e3sync CLI's container image as an image
// tarball, without a container engine (`make image`; see package release).
//
//	go run ./internal/release/cmd/ociimage -binary dist/e3sync_v1.0.0_linux_arm64 \
//	    -arch arm64 -version v1.0.0 -out dist/e3sync-image-arm64.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/e3sync/e3sync/internal/release"
)

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	var o release.ImageOptions
	var out string
	fs.StringVar(&o.Binary, "binary", "", "static linux e3sync binary (required)")
	fs.StringVar(&o.Arch, "arch", "", "its GOARCH: amd64 or arm64 (required)")
	fs.StringVar(&o.Version, "version", "", "release version (required)")
	fs.StringVar(&o.CA, "ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include")
	fs.StringVar(&out, "out", "", "image tarball to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Binary == "" || o.Arch == "" || o.Version == "" || out == "" {
		return fmt.Errorf("-binary, -arch, -version and -out are required")
	}
	// SOURCE_DATE_EPOCH (reproducible builds) sets the image's timestamps.
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
		}
		o.Created = time.Unix(sec, 0)
	}
	img, err := release.Image(o)
	if err != nil {
		return err
	}
	return release.WriteTarball(out, img, o.Version)
}
