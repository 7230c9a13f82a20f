package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// ProbeKey is the key ProbeWrite tries to write, under the store root: in
// the folder e3sync keeps its own state in.
const ProbeKey = "_e3sync/write-probe"

// probeBody and probeMD5: a Content-MD5 that is not the body's (it is the
// MD5 of no bytes), so that S3 refuses to store the probe (BadDigest) once
// it has authorised the request.
var (
	probeBody = []byte("e3sync write probe: never stored\n")
	probeMD5  = "1B2M2Y8AsgTpgAmY7PhCfg=="
)

// ProbeWrite checks that the bucket takes writes under the prefix without
// storing anything: one PutObject at ProbeKey with the encryption of every
// write and a Content-MD5 that does not match its body. S3 authorises the
// request first and then refuses the body (BadDigest), so an identity that
// may write gets BadDigest and nothing is stored, and one that may not gets
// the refusal (a *RefusedError through a BucketClient). A server that stores
// it anyway (it ignores Content-MD5) has the probe deleted again. Any other
// error is returned as it is.
func (s *S3) ProbeWrite(ctx context.Context) error {
	in := s.putInput(ProbeKey, nil)
	in.Body = bytes.NewReader(probeBody)
	in.ContentLength = aws.Int64(int64(len(probeBody)))
	in.ContentMD5 = aws.String(probeMD5)
	_, err := s.client.PutObject(ctx, in)
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && (ae.ErrorCode() == "BadDigest" || ae.ErrorCode() == "InvalidDigest"):
		return nil
	case err == nil:
		if derr := s.Delete(ctx, ProbeKey); derr != nil {
			return fmt.Errorf("probe %s: the server stored the write probe and it could not be deleted: %w", s, derr)
		}
		return nil
	default:
		return fmt.Errorf("probe %s: %w", s, err)
	}
}

// ProbeWrite checks that the directory takes writes: it creates a hidden
// temporary file in it (named as a partial file, which List never shows)
// and removes it. A directory that cannot be written gives a *RefusedError.
func (d *Dir) ProbeWrite(ctx context.Context) error {
	f, err := os.CreateTemp(d.root, ".write-probe.*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("probe %s: %w", d, refusedPath(d.String(), "a test write", err))
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("probe %s: %w", d, err)
	}
	return nil
}
