package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/e3sync/e3sync/pkg/logctx"
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
	log = logctx.OrDiscard(log)
	m := middleware.FinalizeMiddlewareFunc("RejectedKeys",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error,
		) {
			used, _ := creds.Retrieve(ctx)
			out, md, err := next.HandleFinalize(ctx, in)
			code, rejected := rejectedKeys(err)
			if !rejected {
				return out, md, err
			}
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if rerr := req.RewindStream(); rerr != nil {
					return out, md, fmt.Errorf("%w: %w", ErrKeysRejected, err)
				}
			}
			if cur, cerr := creds.Retrieve(ctx); cerr == nil && cur.AccessKeyID == used.AccessKeyID && cur.SecretAccessKey == used.SecretAccessKey {
				creds.Invalidate()
			}
			log.WarnContext(ctx, "the export's S3 refused the source access keys; reading them again and retrying once",
				"code", code, "operation", middleware.GetOperationName(ctx))
			out, md, err = next.HandleFinalize(ctx, in)
			if _, rejected := rejectedKeys(err); rejected {
				err = fmt.Errorf("%w: %w", ErrKeysRejected, err)
			}
			return out, md, err
		})
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(m, "Retry", middleware.Before)
	}
}

func rejectedKeys(err error) (string, bool) {
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		return "", false
	}
	return ae.ErrorCode(), rejectedKeyCodes[ae.ErrorCode()]
}
