package store

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/aws/smithy-go"
)

// Errors that no retry can fix come in two kinds:
//
//	kind                       | examples                                       | retried | the run
//	RefusedError (destination) | AccessDenied, NoSuchBucket, InvalidBucketName, | no      | stops: no object or task starts after it
//	                           | a wrong region, EACCES, EPERM, EROFS, ENOSPC   |         |
//	ErrInvalidKey (one object) | KeyTooLongError, an empty, absolute or '..'    | no      | goes on with the other objects
//	                           | key, ENAMETOOLONG, ENOTDIR, EISDIR, EILSEQ     |         |
//	anything else              | 5xx, SlowDown, resets, truncated bodies        | yes     | goes on
//
// Permanent reports the first two; Refused returns the first.

// RefusedError is a request the destination refused for what it is, not for
// a passing condition: every other request of the run would be refused the
// same way. Its message says what to fix.
type RefusedError struct {
	Store  string // the store's URL: s3://bucket/prefix/ or the directory
	Op     string // what was refused: "PutObject", "write", ...
	Reason string // why, in a few words: "access denied (AccessDenied)"
	Fix    string // what to do about it
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("destination %s refused %s: %s: %s", e.Store, e.Op, e.Reason, e.Fix)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Refused returns the RefusedError in err's chain, or nil.
func Refused(err error) *RefusedError {
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// ErrInvalidKey is wrapped by errors about one key that the store cannot
// take (too long, a name the file system rejects, a file where a folder must
// be): retrying cannot help, but other keys are not affected.
var ErrInvalidKey = errors.New("invalid key")

// Permanent reports whether retrying err cannot help (see the table above).
func Permanent(err error) bool {
	return Refused(err) != nil || errors.Is(err, ErrInvalidKey) || keyErrno(err)
}

// keyErrno reports whether err is a file system error about one path, not
// the whole destination.
func keyErrno(err error) bool {
	for _, e := range []error{syscall.ENAMETOOLONG, syscall.ENOTDIR, syscall.EISDIR, syscall.EILSEQ} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refusedPath turns a file system error of the directory store at root into
// a *RefusedError when it says the directory cannot be written at all, and
// returns any other error as it is. op is what was tried ("write").
func refusedPath(root, op string, err error) error {
	if err == nil || Refused(err) != nil {
		return err
	}
	re := &RefusedError{Store: root, Op: op, Err: err}
	switch {
	case errors.Is(err, syscall.EROFS):
		re.Reason, re.Fix = "read-only file system", "remount it read-write, or choose another destination"
	case errors.Is(err, fs.ErrPermission):
		re.Reason, re.Fix = "permission denied", "give the user running e3sync read and write access to "+root+" and everything under it, or choose another destination"
	case errors.Is(err, syscall.ENOSPC):
		re.Reason, re.Fix = "no space left on the device", "free space on its file system, or choose another destination"
	case errors.Is(err, syscall.EDQUOT):
		re.Reason, re.Fix = "disk quota exceeded", "free space or raise the quota, or choose another destination"
	default:
		return err
	}
	return re
}

// S3 error codes by what they mean for a destination bucket.
var (
	accessCodes = map[string]bool{
		"AccessDenied": true, "AllAccessDisabled": true, "AccountProblem": true,
		"Forbidden": true, // HeadObject and HeadBucket have no body: their 403 has this code
	}
	credentialCodes = map[string]bool{"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true}
	regionCodes     = map[string]bool{
		"PermanentRedirect": true, "AuthorizationHeaderMalformed": true,
		"IllegalLocationConstraintException": true, "301": true, "MovedPermanently": true,
	}
)

// regionMismatch reports whether err is S3 saying the request went to, or
// was signed for, another region than the bucket's.
func regionMismatch(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && regionCodes[ae.ErrorCode()]
}

// classify turns an error of request op (about key, the full S3 key or
// prefix) into a *RefusedError when no retry can fix it, or wraps
// ErrInvalidKey for a key S3 does not take; any other error is returned as
// it is. Deleting and copying (pruning) and the upload clean-up keep their
// own handling (ErrAccessDenied): they never stop a run.
func (b *BucketClient) classify(op, key string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	code := ae.ErrorCode()
	switch op {
	case "DeleteObject", "CopyObject", "ListMultipartUploads", "AbortMultipartUpload":
		return err
	case "HeadObject", "GetObject":
		if code == "NoSuchBucket" || accessCodes[code] || credentialCodes[code] {
			break
		}
		return err
	}
	if code == "KeyTooLongError" {
		return fmt.Errorf("%w: %q: %w", ErrInvalidKey, key, err)
	}
	return b.refusal(op, key, err, code)
}

// refusal returns the *RefusedError for code, or err when code is not one
// no retry can fix.
func (b *BucketClient) refusal(op, key string, err error, code string) error {
	what := op
	if key != "" {
		what += fmt.Sprintf(" of %q", key)
	}
	re := &RefusedError{Store: "s3://" + b.bucket + "/" + b.prefix, Op: what, Err: err}
	objects := "arn:aws:s3:::" + b.bucket + "/" + b.prefix + "*"
	switch {
	case accessCodes[code]:
		re.Reason = "access denied (" + code + ")"
		perm := "s3:PutObject on " + objects + " (and the use of the bucket's KMS key, if it has one)"
		switch op {
		case "ListObjectsV2", "HeadBucket":
			perm = "s3:ListBucket on arn:aws:s3:::" + b.bucket
		case "GetObject", "HeadObject":
			perm = "s3:GetObject on " + objects + " (and the use of the bucket's KMS key, if it has one)"
		}
		re.Fix = "the AWS identity e3sync writes with may not do this: allow it " + perm +
			", and check that " + b.bucket + " is the bucket you meant"
	case credentialCodes[code]:
		re.Reason = "the AWS credentials are not valid (" + code + ")"
		re.Fix = "check AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	case code == "NoSuchBucket":
		re.Reason = "bucket " + b.bucket + " does not exist"
		re.Fix = "create it, or correct the bucket name"
	case code == "InvalidBucketName":
		re.Reason = "S3 does not accept the bucket name " + b.bucket
		re.Fix = "correct the bucket name"
	case regionCodes[code]:
		re.Reason = "the bucket is in another region than " + b.c.Options().Region + " and did not say which (" + code + ")"
		re.Fix = "set AWS_REGION to the bucket's region"
	default:
		return err
	}
	return re
}
