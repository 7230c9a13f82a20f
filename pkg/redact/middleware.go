package redact

import (
	"context"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Middleware returns an APIOptions entry for an AWS SDK client (S3) that
// redacts from the error of every attempt the session token the request
// was signed with (X-Amz-Security-Token: the one secret a server sees, and
// can echo) and every secret of s (nil: none). It sits right after
// signing, inside the retries; successful requests pass untouched.
func Middleware(s *Secrets) func(*middleware.Stack) error {
	m := middleware.FinalizeMiddlewareFunc("RedactSecrets",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error,
		) {
			out, md, err := next.HandleFinalize(ctx, in)
			if err == nil {
				return out, md, err
			}
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if tok := req.Header.Get("X-Amz-Security-Token"); tok != "" {
					err = New(tok).Error(err)
				}
			}
			return out, md, s.Error(err)
		})
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(m, "Signing", middleware.After)
	}
}
