package clients

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"

	"github.com/e3sync/e3sync/pkg/transfer"
)

// noteThrottles calls note for every attempt S3 answers with SlowDown or
// another 503 (the SDK retries them), so the copy engine can lower its
// objects in flight (transfer.Throttled). It runs inside the retry loop,
// and does nothing for an attempt without an error.
func noteThrottles(note func(context.Context)) func(*middleware.Stack) error {
	m := middleware.FinalizeMiddlewareFunc("NoteThrottles",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
			middleware.FinalizeOutput, middleware.Metadata, error,
		) {
			out, md, err := next.HandleFinalize(ctx, in)
			if err != nil && throttled(err) {
				note(ctx)
			}
			return out, md, err
		})
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(m, middleware.After)
	}
}

// throttled reports whether err is S3 asking for fewer requests.
func throttled(err error) bool {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusServiceUnavailable {
		return true
	}
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// NoteThrottles is the S3 client option (APIOptions) that tells the copy
// engine of every SlowDown and 503 answer (transfer.Throttled).
func NoteThrottles(stack *middleware.Stack) error { return noteThrottles(transfer.Throttled)(stack) }
