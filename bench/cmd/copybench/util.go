package main

import (
	"bytes"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func slicesSortParts(p []types.CompletedPart) {
	slices.SortFunc(p, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
}
