package functions_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
)

// Every output of both functions — log lines, EMF metric lines, responses,
// error documents and SQS message bodies — across successes, a poisoned
// message, bad requests and a task that fails, holds neither the PAT nor any
// credential minted for it, nor the functions' own secret key.
func TestNoSecretsInAnyOutput(t *testing.T) {
	s := newStack(t)
	d := time.Now().UTC().AddDate(0, 0, -1).Format(export.DateLayout)
	s.put("type=events/date="+d+"/event=purchase/part-00000.c000.snappy.parquet", 20_000, 1)
	s.put("type=events/date="+d+"/event=big/part-00000.c000.snappy.parquet", 9<<20, 2)
	s.put("type=events/date="+d+"/_SUCCESS", 0, 0)

	var outputs []string // everything a function or the queue handed back
	invoke := func(fn string, payload string) {
		l := s.fetch
		if fn == "copier" {
			l = s.copier
		}
		res := s.invoke(l, []byte(payload))
		outputs = append(outputs, fmt.Sprintf("%s response (%s): %s", fn, res.ErrorType, res.Payload))
	}

	invoke("fetchcreds", `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`)
	invoke("fetchcreds", `{"from":"2024-01-32"}`)
	invoke("fetchcreds", `{"from":"`+d+`","to":"`+d+`","dry_run":true}`)
	msgs := s.drain()
	if len(msgs) == 0 {
		t.Fatalf("fetchcreds enqueued nothing:\n%s", s.fetch.Logs())
	}
	for _, m := range msgs {
		outputs = append(outputs, "SQS message: "+m.body)
	}
	batch := append(msgs, sqsMessage{id: "poison", body: `{"type":"events","date":"x","partition":"../../account_id=1"}`})
	invoke("copier", string(sqsEvent(batch)))
	invoke("copier", `{"type":"events","date":"`+d+`","partition":"event=purchase","source_complete":true,"force_before":"`+time.Now().UTC().Format(time.RFC3339Nano)+`"}`)
	invoke("copier", `{"type":"events","date":"`+d+`","partition":"../x"}`)
	invoke("copier", `not json`)
	// A continuation or retry could put messages back: read them too.
	for _, m := range s.drain() {
		outputs = append(outputs, "SQS message: "+m.body)
	}

	minted := s.minted.Values()
	if len(minted) < 3 {
		t.Fatalf("credentials minted = %d values, want at least one set per function", len(minted))
	}
	for _, v := range minted {
		if len(v) < 8 {
			t.Fatalf("minted value %q is too short to be a meaningful sentinel", v)
		}
	}
	logs := s.fetch.Logs() + s.copier.Logs()
	if !strings.Contains(logs, `"Namespace":"e3sync"`) {
		t.Errorf("no EMF metric lines in the logs")
	}
	s.assertNoSecrets("function logs and EMF lines", logs)
	for _, o := range outputs {
		s.assertNoSecrets(o[:min(len(o), 40)], o)
	}
}
