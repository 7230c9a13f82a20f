// Command echolambda is a Lambda function for the tests of testenv's Lambda
// runtime. It answers every invocation with what it saw: the payload, the
// request id and function ARN from lambdacontext, the time left before the
// context's deadline and its PID. The payload can ask it to misbehave:
//
//	{"fail":true}     return an error (errorType "failure")
//	{"sleep_ms":N}    sleep N ms, ignoring the deadline, then answer
//	{"crash":true}    os.Exit(3) without answering
//	{"env":["NAME"]}  also report these environment variables, when set
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Fail    bool     `json:"fail"`
	Crash   bool     `json:"crash"`
	SleepMS int      `json:"sleep_ms"`
	Env     []string `json:"env"`
}

type response struct {
	Payload     json.RawMessage   `json:"payload"`
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	RemainingMS int64             `json:"remaining_ms"`
	PID         int               `json:"pid"`
	Env         map[string]string `json:"env,omitempty"`
}

// failure is the error returned for {"fail":true}; the runtime reports its
// type name as the errorType.
type failure struct{ msg string }

func (f failure) Error() string { return f.msg }

func handle(ctx context.Context, payload json.RawMessage) (response, error) {
	resp := response{Payload: payload, PID: os.Getpid()}
	if deadline, ok := ctx.Deadline(); ok {
		resp.RemainingMS = time.Until(deadline).Milliseconds()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		resp.RequestID = lc.AwsRequestID
		resp.FunctionARN = lc.InvokedFunctionArn
	}
	var req request
	_ = json.Unmarshal(payload, &req) // any other payload is echoed as is
	slog.InfoContext(ctx, "echo", "bytes", len(payload), "remaining_ms", resp.RemainingMS)

	switch {
	case req.Crash:
		fmt.Fprintln(os.Stderr, "echolambda: crashing as asked")
		os.Exit(3)
	case req.Fail:
		return response{}, failure{"failing as asked"}
	case req.SleepMS > 0:
		time.Sleep(time.Duration(req.SleepMS) * time.Millisecond)
	}
	for _, name := range req.Env {
		if v, ok := os.LookupEnv(name); ok {
			if resp.Env == nil {
				resp.Env = map[string]string{}
			}
			resp.Env[name] = v
		}
	}
	return resp, nil
}

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	lambda.Start(handle)
}
