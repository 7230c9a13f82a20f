package source

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"

	"github.com/e3sync/e3sync/pkg/optimizely"
)

// ErrKeysRejected means the export's S3 refused the static source keys
// (InvalidAccessKeyId, SignatureDoesNotMatch, or AccessDenied on the
// account prefix) with the keys as they were read, then once more with the
// keys read again. Retrying with the same keys is useless.
var ErrKeysRejected = errors.New("the export's S3 rejected the Optimizely source access keys: " +
	"check the access key id, secret access key and account id in the secret (or environment) that holds them, " +
	"ask Optimizely for new keys, or use a Personal Access Token instead")

// rejectedKeyCodes are the S3 error codes that mean the keys, or the
// account they were given for, are wrong or revoked.
var rejectedKeyCodes = map[string]bool{
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"AccessDenied":          true,
}

// RejectedKeys returns an APIOptions entry for the S3 client that reads the
// export with static keys cached in creds: when an operation fails with a
// rejected-key code, the cached keys are invalidated (unless another request
// has replaced them meanwhile), read again, and the operation retried once
// with its own retries — a rotation caught between the old key's
// deactivation and the cache's TTL. A second rejection is returned wrapped
// in ErrKeysRejected. Each retry is logged at Warn.
func RejectedKeys(creds *aws.CredentialsCache, log *slog.Logger) func(*middleware.Stack) error {
	return optimizely.RetryWithNewCredentials(optimizely.CredentialRetry{
		Name:    "RejectedKeys",
		Codes:   rejectedKeyCodes,
		Warning: "the export's S3 refused the source access keys; reading them again and retrying once",
		Wrap:    func(err error) error { return fmt.Errorf("%w: %w", ErrKeysRejected, err) },
	}, creds, log)
}
