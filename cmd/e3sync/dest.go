package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/e3sync/e3sync/pkg/store"
	"github.com/e3sync/e3sync/pkg/transfer"
)

// A destination is s3://bucket[/prefix] or a path. What looks like a
// mistyped URL or an unexpanded ~ would otherwise become a local directory
// named after the typo, and the export would be copied into it.
var schemeLike = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:`)

// destProblem says why --dest is refused, or "".
func destProblem(dest string) string {
	lower := strings.ToLower(dest)
	switch {
	case strings.HasPrefix(lower, "s3:") && !strings.HasPrefix(dest, "s3://"):
		return fmt.Sprintf("--dest %q is not an S3 URL: write s3://bucket/prefix (lower-case s3, two slashes)", dest)
	case dest == "~" || strings.HasPrefix(dest, "~/") || strings.HasPrefix(dest, `~\`) || strings.HasPrefix(dest, "~") && !strings.ContainsAny(dest, `/\`):
		return fmt.Sprintf("--dest %q starts with ~, which the shell expands only when it is not quoted: "+
			"write $HOME%s or an absolute path", dest, strings.TrimPrefix(dest, "~"))
	case strings.HasPrefix(dest, "s3://"), strings.HasPrefix(lower, "file://"):
		return ""
	case schemeLike.MatchString(dest):
		// One letter before ':' is a Windows drive (C:\export): not matched.
		return fmt.Sprintf("--dest %q: unsupported URL scheme %q: want s3://bucket/prefix or a local directory", dest, strings.SplitN(dest, ":", 2)[0]+":")
	}
	return ""
}

// absentDir is a plan's view of a local destination directory that does
// not exist yet: empty. A dry run reads it and never creates it.
type absentDir struct{ path string }

var _ transfer.Destination = absentDir{}

func (d absentDir) List(context.Context, string, bool) (store.Listing, error) {
	return store.Listing{}, nil
}

func (d absentDir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("open %s: %w", key, store.ErrNotFound)
}

func (d absentDir) Head(_ context.Context, key string) (store.Info, error) {
	return store.Info{}, fmt.Errorf("head %s: %w", key, store.ErrNotFound)
}

func (d absentDir) Write(context.Context, string, int64, io.Reader, map[string]string) (string, error) {
	return "", fmt.Errorf("destination directory %s does not exist (a dry run creates nothing)", d.path)
}

func (d absentDir) String() string { return d.path }
