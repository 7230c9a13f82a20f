package testenv

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Moto is a running moto_server on 127.0.0.1 (Secrets Manager, SQS, Glue,
// CloudWatch). Any credentials are accepted; use region us-east-1.
type Moto struct {
	daemon
}

// MotoForTest starts a moto_server for t and stops it when t ends. Without
// moto_server on PATH the test is skipped, or fails when CI=true.
func MotoForTest(t testing.TB) *Moto {
	t.Helper()
	return serverForTest(t, "moto_server", 60*time.Second, StartMoto)
}

// StartMoto starts moto_server on a free loopback port and waits until it
// answers. ctx bounds the start only; the server runs until Stop.
func StartMoto(ctx context.Context) (*Moto, error) {
	bin, err := lookBinary("moto_server")
	if err != nil {
		return nil, err
	}
	return startRetrying(ctx, func(ctx context.Context) (*Moto, error) { return startMoto(ctx, bin) })
}

func startMoto(ctx context.Context, bin string) (*Moto, error) {
	dir, err := os.MkdirTemp("", "e3sync-moto-")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &Moto{daemon{dir: dir, endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}}
	// moto_server is Python: its start (imports) takes a few seconds.
	err = m.run(ctx, "moto_server", bin, []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}, []string{"PYTHONUNBUFFERED=1"}, nil,
		"moto.log", "/moto-api/", 45*time.Second, func(r *http.Response) bool { return r.StatusCode < 500 })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Endpoint is the server's endpoint for every service, http://127.0.0.1:port.
func (m *Moto) Endpoint() string { return m.endpoint }

// RouteEventsToQueue creates, in moto, the event bus (unless it is
// "default"), a rule on it matching pattern, and a new SQS queue as the
// rule's target, and returns the queue's URL: what a downstream consumer of
// the events would set up.
func (m *Moto) RouteEventsToQueue(t testing.TB, eb *eventbridge.Client, q *sqs.Client, bus, pattern, queue string) string {
	t.Helper()
	ctx := context.Background()
	if bus != "default" {
		if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
			t.Fatal(err)
		}
	}
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queue)})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: qo.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	rule := queue + "-rule"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(rule), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(qa.Attributes["QueueArn"])}},
	}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(qo.QueueUrl)
}
