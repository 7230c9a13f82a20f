package store

import (
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The one place where the S3 store adapts to an S3-compatible server that
// behaves differently from Amazon S3. Everything else follows S3's documented
// behaviour only.

// ignoresUploadPrefix reports whether an empty ListMultipartUploads page came
// from a server that takes the prefix for one object's name and lists
// nothing under a folder: MinIO (minio/minio#20989, "working as intended"),
// told by its Server header. listUploads then lists the bucket's uploads
// without the prefix and filters them itself; against S3 it never does.
func ignoresUploadPrefix(page *s3.ListMultipartUploadsOutput) bool {
	raw, ok := awsmiddleware.GetRawResponse(page.ResultMetadata).(*smithyhttp.Response)
	return ok && strings.HasPrefix(raw.Header.Get("Server"), "MinIO")
}
