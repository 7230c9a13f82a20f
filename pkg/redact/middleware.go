package redact

import (
	"context"

	"github.com/aws/smithy-go/middleware"
)

// Middleware adds to an AWS SDK client's stack (as an APIOptions entry) a
// step that redacts the secrets of s from every error an operation returns
// (an S3 error message that echoes the security token, say). Successful
// requests pass through untouched.
func (s *Secrets) Middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("RedactSecrets",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
			middleware.InitializeOutput, middleware.Metadata, error,
		) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil {
				err = s.Error(err)
			}
			return out, md, err
		}), middleware.Before)
}
