package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/e3sync/e3sync/pkg/optimizely"
	"github.com/e3sync/e3sync/pkg/pat"
)

// checkToken reads the token once before the run, so that a token source
// that cannot work (a missing secret, a secret without a token field, a
// value with white space) is a settings error (exit 2) said at once, not a
// failure of every task. Network trouble stays an ordinary error (exit 1).
func checkToken(ctx context.Context, c config, tokens pat.Source) error {
	_, err := tokens.Token(ctx)
	var send *smithyhttp.RequestSendError
	var api smithy.APIError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil, errors.As(err, &send), errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer:
		return fmt.Errorf("read the token: %w", err)
	}
	where := "$" + envToken
	if c.tokenSecret != "" {
		where = "--token-secret " + c.tokenSecret
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "white space"):
		msg += ` (a value like "Bearer <token>" must hold the token alone)`
	case strings.Contains(msg, "not found"):
		msg += " (check the secret's name or ARN, and that AWS_REGION is the secret's region)"
	case strings.Contains(msg, `"token" field`):
		msg += ` (store the token alone, or as {"token": "<token>"})`
	}
	return usageErr(c.cmd, where+": "+msg)
}

// tokenRejected is ErrTokenRejected with the remediation for where the
// token came from: the environment or a secret.
type tokenRejected struct {
	err  error
	from string // "$OPTIMIZELY_TOKEN" or "the secret <id>"
	fix  string
}

func (e *tokenRejected) Error() string {
	detail := strings.TrimPrefix(strings.Replace(e.err.Error(), optimizely.ErrTokenRejected.Error(), "", 1), ": ")
	msg := "Optimizely rejected the Personal Access Token from " + e.from
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return msg + ": regenerate it in Optimizely and " + e.fix
}

func (e *tokenRejected) Unwrap() error { return e.err }

// explainRejection gives a rejected token's error the remediation that fits
// c's token source; other errors pass unchanged.
func explainRejection(c config, err error) error {
	if !errors.Is(err, optimizely.ErrTokenRejected) {
		return err
	}
	if c.tokenSecret != "" {
		return &tokenRejected{err: err, from: "the secret " + c.tokenSecret, fix: "put the new one in that secret"}
	}
	return &tokenRejected{err: err, from: "$" + envToken, fix: "set " + envToken + " to the new one"}
}
