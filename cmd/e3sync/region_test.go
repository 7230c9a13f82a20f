package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/internal/testenv"
	"github.com/e3sync/e3sync/internal/testworld"
)

// A destination bucket in another region than the one configured (or none
// configured) is synced without the user saying where it is: the region is
// found once per run. The destination is a second MinIO running as a site
// in eu-west-2, which refuses requests signed for any other region.
func TestSyncDestinationInAnotherRegion(t *testing.T) {
	w := newWorld(t, 0)
	ctx := context.Background()
	for i := range 6 {
		w.put(fmt.Sprintf("type=events/date=%s/event=e%d/part-%05d-a.c000.snappy.parquet", day(-2), i%2, i), randBytes(3000, int64(i)))
	}
	w.put("type=events/date="+day(-2)+"/_SUCCESS", nil)

	far := testenv.MinIOForTest(t, testenv.SiteRegion("eu-west-2"))
	if err := far.CreateBucket(ctx, dstBucket); err != nil {
		t.Fatal(err)
	}
	if err := far.AddUser(ctx, testworld.CustomerKey, testworld.CustomerSecret, testenv.ReadWritePolicy(dstBucket)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", far.Endpoint())
	w.env["AWS_ENDPOINT_URL_S3"] = far.Endpoint()
	farRoot := far.S3Client(far.RootProvider())

	for _, region := range []string{"us-east-1", ""} {
		t.Run("AWS_REGION="+region, func(t *testing.T) {
			t.Setenv("AWS_REGION", region)
			prefix := "mirror-" + region + "/"
			code, s, stderr := w.sync(t, "--dest", "s3://"+dstBucket+"/"+prefix)
			if code != 0 || s.ObjectsCopied != 6 || s.DatesCompleted != 1 {
				t.Fatalf("exit %d, summary %+v; want 6 copied, 1 date completed; stderr:\n%s", code, s, stderr)
			}
			for _, bad := range []string{"AuthorizationHeaderMalformed", "PermanentRedirect", "region", "retrying"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr has %q:\n%s", bad, stderr)
				}
			}
			got := objects(t, farRoot, dstBucket, prefix)
			if _, ok := got["type=events/date="+day(-2)+"/_SUCCESS"]; !ok || len(got) < 7 {
				t.Errorf("destination holds %d objects, _SUCCESS %v; want the 6 objects and _SUCCESS", len(got), ok)
			}
		})
	}
}
