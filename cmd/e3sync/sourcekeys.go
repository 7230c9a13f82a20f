package main

// The source mode: a Personal Access Token ($OPTIMIZELY_TOKEN or
// --token-secret), or static source keys with the Optimizely account id
// (--source-keys-secret, or $OPTIMIZELY_ACCESS_KEY_ID,
// $OPTIMIZELY_SECRET_ACCESS_KEY and $OPTIMIZELY_ACCOUNT_ID). Exactly one.

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/e3sync/e3sync/pkg/source"
)

// exitKeysRejected: the export's S3 rejected the static source keys (4 is
// a refused destination, refused.go).
const exitKeysRejected = 5

// addSourceKeysFlag registers --source-keys-secret.
func addSourceKeysFlag(fs *flag.FlagSet, secret *string) {
	fs.StringVar(secret, "source-keys-secret", "", "Secrets Manager secret id or ARN holding static source keys and the account id,\n"+
		`JSON {"access_key_id", "secret_access_key", "account_id"} (instead of a token; or set $`+source.EnvAccessKeyID+",\n"+
		"$"+source.EnvSecretAccessKey+" and $"+source.EnvAccountID+")")
}

// sourceModes reports which source modes c and the environment configure.
func sourceModes(c config, getenv func(string) string) (token, keys bool) {
	token = c.tokenSecret != "" || strings.TrimSpace(getenv(envToken)) != ""
	keys = c.keysSecret != ""
	for _, v := range []string{source.EnvAccessKeyID, source.EnvSecretAccessKey, source.EnvAccountID} {
		keys = keys || strings.TrimSpace(getenv(v)) != ""
	}
	return token, keys
}

// sourceModeProblems names the problem with the source mode: both set, or
// (when required) neither.
func sourceModeProblems(c config, getenv func(string) string, required bool) []string {
	const (
		tokenHow = "a token ($" + envToken + " or --token-secret)"
		keysHow  = "source keys (--source-keys-secret, or $" + source.EnvAccessKeyID + ", $" + source.EnvSecretAccessKey +
			" and $" + source.EnvAccountID + ")"
	)
	switch token, keys := sourceModes(c, getenv); {
	case token && keys:
		return []string{"both " + tokenHow + " and " + keysHow + " are set: use one"}
	case required && !token && !keys:
		return []string{"no token: set " + tokenHow + ", or " + keysHow}
	}
	return nil
}

// sourceConfig returns how to reach the export in the mode c configures. A
// token is read once first (checkToken: a token source that cannot work is
// a settings error).
func sourceConfig(ctx context.Context, c config, getenv func(string) string, log *slog.Logger) (source.Config, error) {
	if _, keys := sourceModes(c, getenv); !keys {
		tokens, err := tokenSource(ctx, c, getenv, log)
		if err != nil {
			return source.Config{}, err
		}
		return source.Config{Tokens: tokens}, checkToken(ctx, c, tokens)
	}
	if c.keysSecret == "" {
		return source.Config{Keys: source.KeysFromEnv(getenv)}, nil
	}
	cfg, err := awsConfig(ctx, log)
	if err != nil {
		return source.Config{}, fmt.Errorf("AWS configuration for Secrets Manager: %w", err)
	}
	return source.Config{Keys: &source.KeysSecret{Client: secretsmanager.NewFromConfig(cfg), SecretID: c.keysSecret}}, nil
}
