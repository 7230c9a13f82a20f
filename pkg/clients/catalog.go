package clients

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/e3sync/e3sync/pkg/catalog"
	"github.com/e3sync/e3sync/pkg/store"
)

// NewKeeper returns the catalog keeper of an S3 destination: schema checks
// always, and partition registration in database's tables when database is
// set, with the identity in cfg.
func NewKeeper(cfg aws.Config, dest *store.S3, database string) *catalog.Keeper {
	k := &catalog.Keeper{Dest: dest}
	if database != "" {
		k.Glue = &catalog.Glue{Client: glue.NewFromConfig(cfg), Database: database, Location: dest.String()}
	}
	return k
}
