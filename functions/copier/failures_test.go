package main

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestReceiveCount(t *testing.T) {
	tests := []struct {
		attrs map[string]string
		want  int
	}{
		{map[string]string{"ApproximateReceiveCount": "1"}, 1},
		{map[string]string{"ApproximateReceiveCount": "7"}, 7},
		{map[string]string{"ApproximateReceiveCount": "x"}, 0},
		{map[string]string{}, 0},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := receiveCount(events.SQSMessage{Attributes: tt.attrs}); got != tt.want {
			t.Errorf("receiveCount(%v) = %d, want %d", tt.attrs, got, tt.want)
		}
	}
}

func TestFromQueue(t *testing.T) {
	const url = "https://sqs.us-east-1.amazonaws.com/123456789012/e3sync-TaskQueue-AbC"
	tests := []struct {
		arn  string
		want bool
	}{
		{"arn:aws:sqs:us-east-1:123456789012:e3sync-TaskQueue-AbC", true},
		{"arn:aws:sqs:us-east-1:123456789012:e3sync-TaskDeadLetterQueue-XyZ", false},
		{"arn:aws:sqs:us-east-1:123456789012:other", false},
		{"", true}, // a hand-made event: taken to be the task queue
	}
	for _, tt := range tests {
		if got := fromQueue(tt.arn, url); got != tt.want {
			t.Errorf("fromQueue(%q, %q) = %v, want %v", tt.arn, url, got, tt.want)
		}
	}
}
