package e3sync_test

// Least privilege, checked against the code: each function's role grants
// exactly the IAM actions its code path (and the Lambda service acting with
// the role) needs, and every AWS API call the functions' code makes is in
// the table below. A new SDK call fails TestFunctionsCallOnlyListedAPIs until
// it is added to a function's row (and then TestRolesMatchTheCode until the
// role grants it); a grant no row needs fails TestRolesMatchTheCode.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// grant is one IAM action a function's role needs: op is the SDK operation
// the function's code calls with the role ("" when the action is used by an
// AWS service on the role's behalf), why says where and what for.
type grant struct {
	op, action, why string
}

// roleGrants is the table, derived by reading each function's code path
// (functions/<name>, pkg/pipeline, pkg/transfer, pkg/store, pkg/pat,
// pkg/source, pkg/notify). Source reads (GetObject, ListObjectsV2 on
// Optimizely's bucket) use Optimizely's temporary credentials or the static
// source keys, not the role: they need no row.
var roleGrants = map[string][]grant{
	"FetchCredsFunction": {
		{"GetSecretValue", "secretsmanager:GetSecretValue", "pat.SecretsManager reads the PAT, or source.KeysSecret the static source keys"},
		{"SendMessageBatch", "sqs:SendMessage", "pipeline.SendTasks sends the planned tasks (SendMessageBatch is authorized as sqs:SendMessage)"},
		{"ListObjectsV2", "s3:ListBucket", "plan.Make lists the destination's dates and sub-partitions (plan.Lister: List only, no object read)"},
		{"HeadBucket", "s3:ListBucket", "store.BucketClient finds the destination bucket's region, signed when an anonymous HeadBucket does not say it"},
		{"", "logs:CreateLogStream", "the Lambda service creates the function's log streams in its log group"},
		{"", "logs:PutLogEvents", "the Lambda service writes the function's logs"},
	},
	"CopierFunction": {
		{"GetSecretValue", "secretsmanager:GetSecretValue", "pat.SecretsManager reads the PAT for the copier's own export credentials, or source.KeysSecret the static source keys"},
		{"SendMessageBatch", "sqs:SendMessage", "pipeline.Copier sends a continuation when time runs short"},
		{"ChangeMessageVisibility", "sqs:ChangeMessageVisibility", "pipeline.DelayRetry delays a failed task's next attempt by its back-off"},
		{"PutEvents", "events:PutEvents", "notify.EventBridge announces a completed date"},
		{"ListObjectsV2", "s3:ListBucket", "transfer.Engine lists the task prefix and, in Finalize, the date; Copier.publish counts the date"},
		{"HeadBucket", "s3:ListBucket", "store.BucketClient finds the destination bucket's region, signed when an anonymous HeadBucket does not say it"},
		{"GetObject", "s3:GetObject", "transfer.readManifest reads the task's manifest; catalog.Keeper reads a completed date's Parquet footer (ranged) and recorded schemas"},
		{"HeadObject", "s3:GetObject", "the engine's check path reads an object's metadata (HEAD is authorized as s3:GetObject)"},
		{"PutObject", "s3:PutObject", "store.S3.Write: objects below the part size, manifests, _SUCCESS"},
		{"CreateMultipartUpload", "s3:PutObject", "store.S3.Write (uploader) and WriteParts: large objects"},
		{"UploadPart", "s3:PutObject", "store.S3 multipart uploads"},
		{"CompleteMultipartUpload", "s3:PutObject", "store.S3 multipart uploads"},
		{"AbortMultipartUpload", "s3:AbortMultipartUpload", "a failed upload, and stale uploads (store.S3.AbortStaleUploads)"},
		{"ListMultipartUploads", "s3:ListBucketMultipartUploads", "store.S3.AbortStaleUploads finds uploads a killed run left open"},
		{"CopyObject", "s3:GetObject", "store.S3.CopyWithin: pruning copies a stale object to the quarantine, server-side (reads it)"},
		{"CopyObject", "s3:PutObject", "store.S3.CopyWithin writes the quarantine copy under _e3sync/quarantine/"},
		{"DeleteObject", "s3:DeleteObject", "store.S3.Delete: pruning removes a stale object after its quarantine copy, and a false _SUCCESS (PrunesStaleObjects only)"},
		{"", "kms:GenerateDataKey", "S3, for the copier, encrypts written objects and parts with DestinationKmsKeyArn (HasKmsKey)"},
		{"", "kms:Decrypt", "S3, for the copier, decrypts SSE-KMS objects it reads (manifests) and completes SSE-KMS multipart uploads (HasKmsKey)"},
		{"", "sqs:ReceiveMessage", "the SQS event source mapping polls the task queue with the function's role"},
		{"", "sqs:DeleteMessage", "the event source mapping deletes handled messages"},
		{"", "sqs:GetQueueAttributes", "the event source mapping reads the queue's attributes"},
		{"", "logs:CreateLogStream", "the Lambda service creates the function's log streams in its log group"},
		{"", "logs:PutLogEvents", "the Lambda service writes the function's logs"},
		// catalog.Keeper (GLUE_DATABASE, CreatesAthenaTables): partitions and new columns.
		{"GetTable", "glue:GetTable", "catalog.Glue reads the table's partition keys, storage descriptor and columns"},
		{"UpdateTable", "glue:UpdateTable", "catalog.Glue.AddColumns adds columns the export gained"},
		{"GetPartition", "glue:GetPartition", "catalog.Glue checks the location of a partition that already exists"},
		{"GetPartitions", "glue:GetPartitions", "catalog.Glue.SyncDate reads a completed date's partitions"},
		{"BatchCreatePartition", "glue:BatchCreatePartition", "catalog.Glue registers copied sub-partitions"},
		{"UpdatePartition", "glue:UpdatePartition", "catalog.Glue corrects a partition's location"},
		{"BatchDeletePartition", "glue:BatchDeletePartition", "catalog.Glue.SyncDate drops partitions whose folder is gone"},
	},
}

// sdkHelpers are SDK calls that are not operations themselves but make
// them: manager.Uploader.Upload (store.S3.Write of a large object).
var sdkHelpers = map[string][]string{
	"Upload": {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"},
}

// paginatorRe matches the SDK's paginator constructors: each page is one
// call of the operation.
var paginatorRe = regexp.MustCompile(`^New(\w+)Paginator$`)

// sdkClients are the SDK service clients whose operations the scan knows,
// by service package name; TestFunctionsCallOnlyListedAPIs fails when the
// functions import a service missing here.
var sdkClients = map[string]any{
	"s3":             (*s3.Client)(nil),
	"sqs":            (*sqs.Client)(nil),
	"secretsmanager": (*secretsmanager.Client)(nil),
	"eventbridge":    (*eventbridge.Client)(nil),
	"glue":           (*glue.Client)(nil),
	"sts":            (*sts.Client)(nil),
}

// sdkOperations returns the operation names of sdkClients: methods shaped
// (ctx, *XInput, ...func(*Options)) (*XOutput, error).
func sdkOperations() map[string]bool {
	ops := map[string]bool{}
	for _, c := range sdkClients {
		typ := reflect.TypeOf(c)
		for m := range typ.Methods() {
			if m.Type.NumIn() == 4 && m.Type.In(2).Kind() == reflect.Pointer && strings.HasSuffix(m.Type.In(2).Elem().Name(), "Input") {
				ops[m.Name] = true
			}
		}
	}
	return ops
}

// modulePath is this module's import path.
const modulePath = "github.com/e3sync/e3sync"

// functionPackages returns the directories of the module's packages that
// the functions' binaries are built from (functions/* and every package of
// the module they import, directly or not; non-test files), and the SDK
// services they import.
func functionPackages(t *testing.T) (dirs []string, services map[string]bool) {
	t.Helper()
	mains, err := filepath.Glob("functions/*/main.go")
	if err != nil || len(mains) == 0 {
		t.Fatalf("no functions/*/main.go (%v)", err)
	}
	seen, services := map[string]bool{}, map[string]bool{}
	var queue []string
	for _, m := range mains {
		queue = append(queue, filepath.Dir(m))
	}
	fset := token.NewFileSet()
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if rel, ok := strings.CutPrefix(path, modulePath+"/"); ok {
					queue = append(queue, filepath.FromSlash(rel))
				}
				if svc, ok := strings.CutPrefix(path, "github.com/aws/aws-sdk-go-v2/service/"); ok {
					services[strings.Split(svc, "/")[0]] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), services
}

// codeOperations returns the SDK operations called in the non-test Go files
// of dirs, with the first place each is called.
func codeOperations(t *testing.T, dirs []string) map[string]string {
	t.Helper()
	ops := sdkOperations()
	found := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				var names []string
				switch name := sel.Sel.Name; {
				case ops[name]:
					names = []string{name}
				case sdkHelpers[name] != nil:
					names = sdkHelpers[name]
				case paginatorRe.MatchString(name) && ops[paginatorRe.FindStringSubmatch(name)[1]]:
					names = []string{paginatorRe.FindStringSubmatch(name)[1]}
				}
				for _, op := range names {
					if _, ok := found[op]; !ok {
						rel, _ := filepath.Rel(mustGetwd(t), fset.Position(call.Pos()).Filename)
						found[op] = rel
					}
				}
				return true
			})
		}
	}
	return found
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestFunctionsCallOnlyListedAPIs checks the table against the code: every
// SDK operation the functions' packages call is in a function's row, and
// every operation in the table is still called.
func TestFunctionsCallOnlyListedAPIs(t *testing.T) {
	dirs, services := functionPackages(t)
	for svc := range services {
		if sdkClients[svc] == nil {
			t.Errorf("the functions import SDK service %q, whose client sdkClients lacks: its calls would go unseen", svc)
		}
	}
	found := codeOperations(t, dirs)
	if len(found) == 0 {
		t.Fatal("no SDK operation found in the functions' code: the scan is broken")
	}
	t.Logf("packages %v call %v", dirs, slices.Sorted(maps.Keys(found)))
	listed := map[string]bool{}
	for _, grants := range roleGrants {
		for _, g := range grants {
			if g.op != "" {
				listed[g.op] = true
			}
		}
	}
	for op, where := range found {
		if !listed[op] {
			t.Errorf("%s calls %s, which no function's row in roleGrants lists: add it with the IAM action it needs", where, op)
		}
	}
	for op := range listed {
		if _, ok := found[op]; !ok {
			t.Errorf("roleGrants lists %s, which the functions' code no longer calls: remove the row (and its grant)", op)
		}
	}
}

// TestRolesMatchTheCode checks each function's role against its rows: the
// role is the template's own (SAM's generated roles carry managed policies
// with account-wide grants), it has no managed policy, and its actions are
// exactly the rows' actions. The SQS actions of the event source are on the
// task queue only.
func TestRolesMatchTheCode(t *testing.T) {
	tpl := loadTemplate(t)
	stmts := policyStatements(t, tpl)
	for _, fn := range tpl.resourceIDs("AWS::Serverless::Function") {
		t.Run(fn, func(t *testing.T) {
			rows, ok := roleGrants[fn]
			if !ok {
				t.Fatalf("no roleGrants row for %s", fn)
			}
			roleID, ok := functionRole(tpl, fn)
			if !ok {
				t.Fatalf("%s has no Role: !GetAtt <role>.Arn; SAM would generate one with managed policies "+
					"(AWSLambdaBasicExecutionRole, and AWSLambdaSQSQueueExecutionRole on every queue for an SQS event)", fn)
			}
			role := tpl.resource(t, roleID, "AWS::IAM::Role")
			if role["ManagedPolicyArns"] != nil || role["PermissionsBoundary"] != nil {
				t.Errorf("%s: ManagedPolicyArns %v: want only the inline statements checked here", roleID, role["ManagedPolicyArns"])
			}
			if p := lookup(role, "AssumeRolePolicyDocument", "Statement"); !reflect.DeepEqual(p, []any{map[string]any{
				"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
			}}) {
				t.Errorf("%s: AssumeRolePolicyDocument statements %v, want only lambda.amazonaws.com", roleID, p)
			}
			var got []string
			for _, s := range stmts {
				if s.where != fn {
					continue
				}
				if s.stmt["Effect"] != "Allow" || s.stmt["NotAction"] != nil || s.stmt["NotResource"] != nil {
					t.Errorf("%s: statement %v: want Effect Allow with Action and Resource", fn, s.stmt)
				}
				got = append(got, s.actions()...)
				if hasActionWithPrefix(s, "sqs:", "logs:") {
					checkQueueAndLogResources(t, tpl, fn, s)
				}
			}
			var want []string
			for _, r := range rows {
				want = append(want, r.action)
			}
			got, want = sortedSet(got), sortedSet(want)
			for _, a := range want {
				if !slices.Contains(got, a) {
					t.Errorf("%s needs %s (%s), which its role does not grant", fn, a, whyOf(rows, a))
				}
			}
			for _, a := range got {
				if !slices.Contains(want, a) {
					t.Errorf("%s's role grants %s, which no code path of the function uses (not in roleGrants)", fn, a)
				}
			}
		})
	}
}

// checkQueueAndLogResources: SQS actions only on the task queue, log
// actions only on the function's own log group.
func checkQueueAndLogResources(t *testing.T, tpl cfnTemplate, fn string, s statement) {
	t.Helper()
	for _, a := range s.actions() {
		switch {
		case strings.HasPrefix(a, "sqs:") && !reflect.DeepEqual(s.stmt["Resource"], getAtt("TaskQueue", "Arn")):
			t.Errorf("%s: %s on %v, want GetAtt TaskQueue.Arn", fn, a, s.stmt["Resource"])
		case strings.HasPrefix(a, "logs:"):
			group := lookup(tpl.resource(t, fn, "AWS::Serverless::Function"), "LoggingConfig", "LogGroup")
			name, _ := lookup(group, "Ref").(string)
			if name == "" || !reflect.DeepEqual(s.stmt["Resource"], getAtt(name, "Arn")) {
				t.Errorf("%s: %s on %v, want the function's own log group (GetAtt %s.Arn)", fn, a, s.stmt["Resource"], name)
			}
		}
	}
}

// functionRole returns the logical id of the role a function names with
// Role: !GetAtt <id>.Arn.
func functionRole(tpl cfnTemplate, fn string) (string, bool) {
	v, ok := lookup(tpl.section("Resources")[fn], "Properties", "Role", "Fn::GetAtt").([]any)
	if !ok || len(v) != 2 || v[1] != "Arn" {
		return "", false
	}
	id, ok := v[0].(string)
	return id, ok
}

func whyOf(rows []grant, action string) string {
	var why []string
	for _, r := range rows {
		if r.action == action {
			why = append(why, r.why)
		}
	}
	return strings.Join(why, "; ")
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}
