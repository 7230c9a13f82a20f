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
	return RetryWithNewCredentials(CredentialRetry{
		Name:    "RefreshOnExpiredToken",
		Codes:   staleCredentialCodes,
		Warning: "the export's S3 refused the credentials before their stated expiry; fetching new ones and retrying once",
	}, creds, log)
}

// CredentialRetry says when RetryWithNewCredentials retries an operation.
type CredentialRetry struct {
	Name    string          // the middleware's ID
	Codes   map[string]bool // the S3 error codes that call for new credentials
	Warning string          // logged at Warn before the retry
	// Wrap, when set, wraps the error of a refusal that is not retried (a
	// body that cannot be rewound) or that is met again on the retry.
	Wrap func(error) error
}

// RetryWithNewCredentials returns an APIOptions entry for an S3 client
// signing with creds: when an operation fails with one of r.Codes, the
// cached credentials are invalidated (unless another request has replaced
// them meanwhile), retrieved again, and the operation is retried once, with
// its own retries.
func RetryWithNewCredentials(r CredentialRetry, creds *aws.CredentialsCache, log *slog.Logger) func(*middleware.Stack) error {
	log = logctx.OrDiscard(log)
	wrap := func(err error) error {
		if r.Wrap == nil {
			return err
		}
		return r.Wrap(err)
	}
	m := middleware.FinalizeMiddlewareFunc(r.Name,
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error,
		) {
			used, _ := creds.Retrieve(ctx) // what the attempts will be signed with, as far as can be known
			out, md, err := next.HandleFinalize(ctx, in)
			code, refused := errorCode(err, r.Codes)
			if !refused {
				return out, md, err
			}
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if rerr := req.RewindStream(); rerr != nil {
					return out, md, wrap(err)
				}
			}
			if cur, cerr := creds.Retrieve(ctx); cerr == nil && cur.AccessKeyID == used.AccessKeyID &&
				cur.SecretAccessKey == used.SecretAccessKey && cur.SessionToken == used.SessionToken {
				creds.Invalidate()
			}
			log.WarnContext(ctx, r.Warning, "code", code, "operation", middleware.GetOperationName(ctx))
			out, md, err = next.HandleFinalize(ctx, in)
			if _, refused := errorCode(err, r.Codes); refused {
				err = wrap(err)
			}
			return out, md, err
		})
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(m, "Retry", middleware.Before)
	}
}

// errorCode returns err's API error code and whether it is one of codes.
func errorCode(err error, codes map[string]bool) (string, bool) {
	var ae smithy.APIError
	if err == nil || !errors.As(err, &ae) {
		return "", false
	}
	return ae.ErrorCode(), codes[ae.ErrorCode()]
}
