package e3sync_test

// Several Optimizely accounts: one stack per account (its own stack name,
// destination prefix and secret) in one AWS account and region. These tests
// instantiate the template for two such stacks and prove that nothing they
// create or emit can collide or be mistaken for the other's.

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/settings"
)

// stackParams are two stacks as README "Several Optimizely accounts" sets
// them up: same destination bucket, a prefix, a secret and a Glue database
// per account, the default event bus shared.
var stackParams = []map[string]string{
	{
		"AWS::StackName": "e3sync-acct-111", "PatSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/111-AbCdEf",
		"DestinationBucket": "lake", "DestinationPrefix": "optimizely/account_id=111/", "AthenaDatabaseName": "optimizely_111",
		"CreateAthenaTables": "true",
	},
	{
		"AWS::StackName": "e3sync-acct-222", "SourceKeysSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/222-GhIjKl",
		"DestinationBucket": "lake", "DestinationPrefix": "optimizely/account_id=222/", "AthenaDatabaseName": "optimizely_222",
		"CreateAthenaTables": "true",
	},
}

// cfnEval resolves a template's intrinsic functions for one stack. A
// resource's Ref and GetAtt resolve to a value unique to the stack (the
// physical ids CloudFormation generates from the stack name).
type cfnEval struct {
	t      *testing.T
	tpl    cfnTemplate
	params map[string]string
}

func newEval(t *testing.T, tpl cfnTemplate, over map[string]string) *cfnEval {
	p := map[string]string{"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
	for id, def := range tpl.section("Parameters") {
		if d, ok := lookup(def, "Default").(string); ok {
			p[id] = d
		} else if n, ok := toInt(lookup(def, "Default")); ok {
			p[id] = fmt.Sprint(n)
		}
	}
	maps.Copy(p, over)
	return &cfnEval{t: t, tpl: tpl, params: p}
}

func (e *cfnEval) ref(name string) string {
	if v, ok := e.params[name]; ok {
		return v
	}
	if r, ok := e.tpl.section("Resources")[name]; ok {
		// Ref of these types is the name, when the template sets one.
		typ, _ := lookup(r, "Type").(string)
		if refIsName[typ] {
			if n := lookup(r, append([]string{"Properties"}, namedBy[typ][0]...)...); n != nil {
				return e.str(n)
			}
		}
		return "physical-id:" + e.params["AWS::StackName"] + ":" + name
	}
	e.t.Fatalf("Ref %s: no such parameter or resource", name)
	return ""
}

func (e *cfnEval) condition(name string) bool {
	c, ok := e.tpl.section("Conditions")[name]
	if !ok {
		e.t.Fatalf("no condition %s", name)
	}
	return e.truth(c)
}

func (e *cfnEval) truth(v any) bool {
	m, _ := v.(map[string]any)
	for fn, arg := range m {
		args := list(arg)
		switch fn {
		case "Fn::Equals":
			return e.str(args[0]) == e.str(args[1])
		case "Fn::Not":
			return !e.truth(args[0])
		case "Fn::And", "Fn::Or":
			all, any := true, false
			for _, a := range args {
				b := e.truth(a)
				all, any = all && b, any || b
			}
			return fn == "Fn::And" && all || fn == "Fn::Or" && any
		case "Condition":
			return e.condition(arg.(string))
		}
	}
	e.t.Fatalf("condition %v: cannot evaluate", v)
	return false
}

// eval resolves v: maps and lists element by element, intrinsics to values.
// An Fn::If that picks AWS::NoValue resolves to nil.
func (e *cfnEval) eval(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				switch fn {
				case "Ref":
					if arg == "AWS::NoValue" {
						return nil
					}
					return e.ref(arg.(string))
				case "Fn::Sub", "Fn::GetAtt", "Fn::Join":
					return e.str(x)
				case "Fn::If":
					args := list(arg)
					if e.condition(args[0].(string)) {
						return e.eval(args[1])
					}
					return e.eval(args[2])
				}
			}
		}
		out := map[string]any{}
		for k, val := range x {
			if r := e.eval(val); r != nil {
				out[k] = r
			}
		}
		return out
	case []any:
		var out []any
		for _, val := range x {
			if r := e.eval(val); r != nil {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

// str resolves v to a string.
func (e *cfnEval) str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		for fn, arg := range x {
			switch fn {
			case "Ref":
				return e.ref(arg.(string))
			case "Fn::GetAtt":
				parts := list(arg)
				if s, ok := arg.(string); ok {
					parts = []any{strings.SplitN(s, ".", 2)[0], strings.SplitN(s, ".", 2)[1]}
				}
				return e.ref(parts[0].(string)) + "." + parts[1].(string)
			case "Fn::Join":
				args := list(arg)
				var parts []string
				for _, p := range list(args[1]) {
					parts = append(parts, e.str(p))
				}
				return strings.Join(parts, args[0].(string))
			case "Fn::If":
				if s, ok := e.eval(x).(string); ok {
					return s
				}
				return ""
			case "Fn::Sub":
				tmpl, vars := arg, map[string]any{}
				if l, ok := arg.([]any); ok {
					tmpl, vars = l[0], l[1].(map[string]any)
				}
				return subVar.ReplaceAllStringFunc(tmpl.(string), func(m string) string {
					name := m[2 : len(m)-1]
					if v, ok := vars[name]; ok {
						return e.str(v)
					}
					if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
						return e.ref(res) + "." + attr
					}
					return e.ref(name)
				})
			}
		}
	case int, float64, bool:
		return fmt.Sprint(x)
	}
	e.t.Fatalf("cannot resolve %v to a string", v)
	return ""
}

// namedBy lists, per resource type the template creates, the properties
// holding a name that is unique in an AWS account and region (a type with
// none: every physical id is generated from the stack name). A new type in
// the template must be added here, with its name properties.
var namedBy = map[string][][]string{
	"AWS::Serverless::Function":  {{"FunctionName"}},
	"AWS::IAM::Role":             {{"RoleName"}},
	"AWS::Logs::LogGroup":        {{"LogGroupName"}},
	"AWS::SQS::Queue":            {{"QueueName"}},
	"AWS::SNS::Topic":            {{"TopicName"}},
	"AWS::SNS::Subscription":     nil,
	"AWS::CloudWatch::Alarm":     {{"AlarmName"}},
	"AWS::CloudWatch::Dashboard": {{"DashboardName"}},
	"AWS::Glue::Database":        {{"DatabaseInput", "Name"}},
	"AWS::Glue::Table":           {{"DatabaseName"}, {"TableInput", "Name"}}, // unique within its database
}

// refIsName: the types whose Ref is their name.
var refIsName = map[string]bool{
	"AWS::Glue::Database": true, "AWS::Logs::LogGroup": true, "AWS::CloudWatch::Dashboard": true,
	"AWS::CloudWatch::Alarm": true, "AWS::IAM::Role": true,
}

// physicalNames resolves, for one stack, every account-wide name the
// template sets (type and name), and whether each resource exists.
func physicalNames(t *testing.T, e *cfnEval) map[string]string {
	t.Helper()
	names := map[string]string{}
	for id, r := range e.tpl.section("Resources") {
		typ, _ := lookup(r, "Type").(string)
		paths, known := namedBy[typ]
		if !known {
			t.Errorf("%s: resource type %s is not in namedBy: say which of its properties is an account-wide name", id, typ)
			continue
		}
		if c, ok := lookup(r, "Condition").(string); ok && !e.condition(c) {
			continue
		}
		props, _ := e.eval(lookup(r, "Properties")).(map[string]any)
		var parts []string
		for _, p := range paths {
			if v := lookup(props, p...); v != nil {
				parts = append(parts, fmt.Sprint(v))
			}
		}
		if len(parts) == 0 {
			parts = []string{"generated:" + e.ref(id)} // CloudFormation names it after the stack
		}
		names[id] = typ + " " + strings.Join(parts, "/")
	}
	return names
}

// Two stacks, one per Optimizely account: no resource name, metric stream,
// alarm, Glue database or table, destination prefix or secret is shared.
func TestTwoStacksDoNotCollide(t *testing.T) {
	tpl := loadTemplate(t)
	a, b := newEval(t, tpl, stackParams[0]), newEval(t, tpl, stackParams[1])

	// Resource names: every account-wide name differs.
	na, nb := physicalNames(t, a), physicalNames(t, b)
	seen := map[string]string{}
	for id, n := range na {
		seen[n] = id
	}
	for id, n := range nb {
		if other, ok := seen[n]; ok {
			t.Errorf("stack %s's %s and stack %s's %s are both %q", a.params["AWS::StackName"], other, b.params["AWS::StackName"], id, n)
		}
	}
	for _, id := range []string{"AthenaDatabase", "DecisionsTable", "EventsTable", "Dashboard", "FetchCredsLogGroup", "CopierLogGroup"} {
		if na[id] == "" || nb[id] == "" {
			t.Errorf("%s was not created in both stacks (%q, %q): the test does not see it", id, na[id], nb[id])
		}
	}

	// Metrics: the functions emit in one namespace with the stack's name as
	// dimension; every custom-metric alarm watches its own stack's.
	for _, e := range []*cfnEval{a, b} {
		env, _ := e.eval(globalEnv(tpl)).(map[string]any)
		if env[settings.EnvStackName] != e.params["AWS::StackName"] {
			t.Errorf("%s: %s = %v, want the stack's name", e.params["AWS::StackName"], settings.EnvStackName, env[settings.EnvStackName])
		}
	}
	for _, id := range tpl.resourceIDs("AWS::CloudWatch::Alarm") {
		ns, _ := lookup(tpl.section("Resources")[id], "Properties", "Namespace").(string)
		if strings.HasPrefix(ns, "AWS/") {
			// AWS's own metrics: the dimension names the stack's function or queue.
			da := a.eval(lookup(tpl.section("Resources")[id], "Properties", "Dimensions"))
			db := b.eval(lookup(tpl.section("Resources")[id], "Properties", "Dimensions"))
			if reflect.DeepEqual(da, db) {
				t.Errorf("%s: both stacks' alarms watch %v", id, da)
			}
			continue
		}
		for _, e := range []*cfnEval{a, b} {
			dims := e.eval(lookup(tpl.section("Resources")[id], "Properties", "Dimensions"))
			found := false
			for _, d := range list(dims) {
				found = found || lookup(d, "Name") == metrics.DimStack && lookup(d, "Value") == e.params["AWS::StackName"]
			}
			if !found {
				t.Errorf("%s in %s: dimensions %v, want %s = the stack's name", id, e.params["AWS::StackName"], dims, metrics.DimStack)
			}
		}
	}

	// Dashboards: every metric an e3sync widget shows is the stack's own.
	for _, e := range []*cfnEval{a, b} {
		body := e.str(lookup(tpl.section("Resources")["Dashboard"], "Properties", "DashboardBody"))
		for _, line := range regexp.MustCompile(`\["e3sync", "[A-Za-z]+"[^\]]*\]`).FindAllString(body, -1) {
			if !strings.Contains(line, `"StackName", "`+e.params["AWS::StackName"]+`"`) {
				t.Errorf("%s dashboard: %s does not name the stack", e.params["AWS::StackName"], line)
			}
		}
	}

	// Data and catalog: the roles reach only their own prefix and secret;
	// the tables point at their own prefix.
	for _, e := range []*cfnEval{a, b} {
		stack := e.params["AWS::StackName"]
		for _, role := range []string{"FetchCredsRole", "CopierRole"} {
			doc := e.eval(lookup(tpl.section("Resources")[role], "Properties", "Policies"))
			text := fmt.Sprint(doc)
			for _, other := range stackParams {
				if other["AWS::StackName"] == stack {
					continue
				}
				for _, k := range []string{"DestinationPrefix", "PatSecretArn", "SourceKeysSecretArn", "AthenaDatabaseName"} {
					if v := other[k]; v != "" && strings.Contains(text, v) {
						t.Errorf("%s %s names the other stack's %s %q", stack, role, k, v)
					}
				}
			}
			if !strings.Contains(text, e.params["DestinationPrefix"]+"*") {
				t.Errorf("%s %s: no grant on its own prefix %s", stack, role, e.params["DestinationPrefix"])
			}
		}
		for _, table := range []string{"DecisionsTable", "EventsTable"} {
			loc := e.str(lookup(tpl.section("Resources")[table], "Properties", "TableInput", "StorageDescriptor", "Location"))
			if !strings.HasPrefix(loc, "s3://lake/"+e.params["DestinationPrefix"]) {
				t.Errorf("%s %s: location %s, want under its own prefix", stack, table, loc)
			}
		}
	}
}

// The check above finds a collision when there is one: two stacks left
// with the same AthenaDatabaseName (the default) would both create the Glue
// database optimizely_export. CloudFormation refuses the second stack
// (AlreadyExists) rather than let them share it and its tables; README
// tells to set one name per account.
func TestTwoStacksCollisionIsFound(t *testing.T) {
	tpl := loadTemplate(t)
	same := []map[string]string{maps.Clone(stackParams[0]), maps.Clone(stackParams[1])}
	delete(same[0], "AthenaDatabaseName")
	delete(same[1], "AthenaDatabaseName")
	na, nb := physicalNames(t, newEval(t, tpl, same[0])), physicalNames(t, newEval(t, tpl, same[1]))
	var shared []string
	for id, n := range na {
		if nb[id] == n {
			shared = append(shared, id)
		}
	}
	slices.Sort(shared)
	if want := []string{"AthenaDatabase", "DecisionsTable", "EventsTable"}; !slices.Equal(shared, want) {
		t.Errorf("resources sharing a name with the default AthenaDatabaseName: %v, want %v", shared, want)
	}
}

// The template's rule accepts exactly one source secret: a stack with both,
// or neither, is refused before anything is created.
func TestExactlyOneSourceSecretRule(t *testing.T) {
	tpl := loadTemplate(t)
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:e3sync/x-AbCdEf"
	for _, tt := range []struct {
		pat, keys string
		ok        bool
	}{{arn, "", true}, {"", arn, true}, {"", "", false}, {arn, arn, false}} {
		e := newEval(t, tpl, map[string]string{"PatSecretArn": tt.pat, "SourceKeysSecretArn": tt.keys})
		ok := true
		for _, r := range tpl.section("Rules") {
			for _, a := range list(lookup(r, "Assertions")) {
				ok = ok && e.truth(lookup(a, "Assert"))
			}
		}
		if ok != tt.ok {
			t.Errorf("rules with PatSecretArn=%q SourceKeysSecretArn=%q: pass %v, want %v", tt.pat, tt.keys, ok, tt.ok)
		}
	}
}
