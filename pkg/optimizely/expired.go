package optimizely

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/e3sync/e3sync/pkg/logctx"
)

// staleCredentialCodes are the S3 error codes that mean the credentials a
// request was signed with no longer work, whatever their stated expiry.
var staleCredentialCodes = map[string]bool{
	"ExpiredToken":         true,
	"InvalidToken":         true,
	"TokenRefreshRequired": true,
}

// RefreshOnExpiredToken returns an APIOptions entry for the S3 client that
// reads the export with creds: when an operation fails with ExpiredToken,
// InvalidToken or TokenRefreshRequired (a clock off, an expiration that was
// not true, a revoked session), the cached credentials are invalidated —
// unless another request has replaced them meanwhile — new ones are
// fetched, and the operation is retried once, with its own retries. A
// second failure is returned as it is. Each such retry is logged at Warn.
//
// Only operations without a body (GET, HEAD, LIST: all the source does)
// are retried; a request whose body cannot be rewound returns the error.
func RefreshOnExpiredToken(creds *aws.CredentialsCache, log *slog.Logger) func(*middleware.Stack) error {
	log = logctx.OrDiscard(log)
	m := middleware.FinalizeMiddlewareFunc("RefreshOnExpiredToken",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error,
		) {
			used, _ := creds.Retrieve(ctx) // what the attempts will be signed with, as far as can be known
			out, md, err := next.HandleFinalize(ctx, in)
			code, stale := staleCredentials(err)
			if !stale {
				return out, md, err
			}
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if rerr := req.RewindStream(); rerr != nil {
					return out, md, err
				}
			}
			if cur, cerr := creds.Retrieve(ctx); cerr == nil && cur.AccessKeyID == used.AccessKeyID && cur.SessionToken == used.SessionToken {
				creds.Invalidate()
			}
			log.WarnContext(ctx, "the export's S3 refused the credentials before their stated expiry; fetching new ones and retrying once",
				"code", code, "operation", middleware.GetOperationName(ctx))
			return next.HandleFinalize(ctx, in)
		})
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(m, "Retry", middleware.Before)
	}
}

func staleCredentials(err error) (string, bool) {
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		return "", false
	}
	return ae.ErrorCode(), staleCredentialCodes[ae.ErrorCode()]
}
