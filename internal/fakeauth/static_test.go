package fakeauth

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStaticMinter(t *testing.T) {
	m := StaticMinter{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}
	before := time.Now()
	c, err := m.Mint(context.Background(), "b", "v1/account_id=1/", time.Hour)
	if err != nil {
		t.Fatalf("Mint() error = %v", err)
	}
	if c.AccessKeyID != "AKID" || c.SecretAccessKey != "SECRET" || c.SessionToken == "" {
		t.Errorf("Mint() = %+v, want the static keys and a session token", c)
	}
	if c.Expiration.Before(before.Add(time.Hour)) || c.Expiration.After(time.Now().Add(time.Hour)) {
		t.Errorf("Mint().Expiration = %v, want about now+1h", c.Expiration)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Mint(ctx, "b", "p/", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Mint(cancelled ctx) error = %v, want context.Canceled", err)
	}
}
