package testenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
)

// Glue returns a Glue client for moto (any credentials, us-east-1).
func (m *Moto) Glue() *glue.Client {
	return glue.New(glue.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}
