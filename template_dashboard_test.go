package e3sync_test

// Tests of the failure signal, the dashboard and the token reminder in
// template.yaml (issue 17). The metrics the dashboard may show are derived
// from the code itself: every metrics.Value the functions build, with the
// dimensions of the Recorder.Put call that emits it.

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/e3sync/e3sync/pkg/export"
	"github.com/e3sync/e3sync/pkg/metrics"
	"github.com/e3sync/e3sync/pkg/pipeline"
	"github.com/e3sync/e3sync/pkg/settings"
)

// emitted maps a metric name to the dimension sets it is emitted with
// (each sorted and joined with ",", StackName always included).
type emitted map[string][]string

// metricConstants reads pkg/metrics' string constants (name -> value).
func metricConstants(t *testing.T) map[string]string {
	t.Helper()
	consts := map[string]string{}
	files, _ := filepath.Glob("pkg/metrics/*.go")
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return consts
}

// emittedMetrics scans the non-test code under pkg/, functions/ and cmd/
// for metrics.Value literals and the Recorder.Put calls that emit them. A
// literal passed to Put directly has that call's dimensions; one collected
// into a slice has the dimensions of the variadic Put calls of its function.
// Put's first argument is nil (StackName only) or a map literal whose keys
// are metrics.Dim* constants.
func emittedMetrics(t *testing.T) emitted {
	t.Helper()
	consts := metricConstants(t)
	resolve := func(e ast.Expr) (string, bool) {
		sel, ok := e.(*ast.SelectorExpr)
		if !ok || fmt.Sprint(sel.X) != "metrics" {
			return "", false
		}
		v, ok := consts[sel.Sel.Name]
		return v, ok
	}
	isValue := func(e ast.Expr) (*ast.CompositeLit, bool) {
		cl, ok := e.(*ast.CompositeLit)
		if !ok {
			return nil, false
		}
		sel, ok := cl.Type.(*ast.SelectorExpr)
		return cl, ok && fmt.Sprint(sel.X) == "metrics" && sel.Sel.Name == "Value"
	}
	out := emitted{}
	fset := token.NewFileSet()
	for _, root := range []string{"pkg", "functions", "cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "testdata") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				// dims of a Put call, or ok=false when its first argument is neither nil nor a map literal.
				dims := func(call *ast.CallExpr) (string, bool) {
					set := []string{metrics.DimStack}
					switch a := call.Args[0].(type) {
					case *ast.Ident:
						if a.Name != "nil" {
							return "", false
						}
					case *ast.CompositeLit:
						for _, el := range a.Elts {
							kv, ok := el.(*ast.KeyValueExpr)
							if !ok {
								return "", false
							}
							k, ok := resolve(kv.Key)
							if !ok {
								return "", false
							}
							set = append(set, k)
						}
					default:
						return "", false
					}
					slices.Sort(set)
					return strings.Join(set, ","), true
				}
				direct := map[*ast.CompositeLit]string{}
				var variadic []string
				var literals []*ast.CompositeLit
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					if cl, ok := n.(ast.Expr); ok {
						if lit, ok := isValue(cl); ok {
							literals = append(literals, lit)
						}
					}
					call, ok := n.(*ast.CallExpr)
					if !ok || len(call.Args) < 2 {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "Put" {
						return true
					}
					var lits []*ast.CompositeLit
					for _, a := range call.Args[1:] {
						if lit, ok := isValue(a); ok {
							lits = append(lits, lit)
						}
					}
					if len(lits) == 0 && !call.Ellipsis.IsValid() {
						return true // another Put (a buffer pool, say)
					}
					ds, ok := dims(call)
					if !ok {
						t.Errorf("%s: metrics Put with dimensions this test cannot read (want nil or a map literal of metrics.Dim* keys)", fset.Position(call.Pos()))
						return true
					}
					for _, lit := range lits {
						direct[lit] = ds
					}
					if call.Ellipsis.IsValid() {
						variadic = append(variadic, ds)
					}
					return true
				})
				for _, lit := range literals {
					var name string
					for _, el := range lit.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "Name" {
							name, _ = resolve(kv.Value)
						}
					}
					if name == "" {
						t.Errorf("%s: metrics.Value whose Name is not a pkg/metrics constant", fset.Position(lit.Pos()))
						continue
					}
					sets := variadic
					if ds, ok := direct[lit]; ok {
						sets = []string{ds}
					}
					if len(sets) == 0 {
						t.Errorf("%s: metric %s is built but never passed to Put in %s", fset.Position(lit.Pos()), name, fn.Name.Name)
					}
					for _, ds := range sets {
						if !slices.Contains(out[name], ds) {
							out[name] = append(out[name], ds)
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The scan finds what the code is known to emit, with the right dimensions.
func TestEmittedMetricsScan(t *testing.T) {
	got := emittedMetrics(t)
	for name, want := range map[string]string{
		metrics.NewestSyncedDateAgeHours: "StackName,Type",
		metrics.TasksFailed:              "StackName",
		metrics.TokenRejected:            "StackName", // collected into a slice, then Put(nil, vals...)
		metrics.CredentialRefreshes:      "StackName",
		metrics.TokenAgeDays:             "StackName",
		metrics.BytesCopied:              "StackName",
	} {
		if !slices.Equal(got[name], []string{want}) {
			t.Errorf("emitted %s with dimensions %v, want [%s]", name, got[name], want)
		}
	}
}

// dashboardWidget is one widget of the dashboard body.
type dashboardWidget struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

// stackMarker stands for ${AWS::StackName} in the substituted body.
const stackMarker = "STACK-NAME"

// numberMarker gives each Number parameter a distinctive value.
func numberMarker(i int) int { return 987000 + i }

// dashboardBody substitutes the dashboard's Fn::Sub string (parameters of
// type Number by distinctive numbers, everything else by "sub:<name>") and
// parses it. Every ${...} must name a parameter, resource or pseudo parameter.
func dashboardBody(t *testing.T, tpl cfnTemplate) (widgets []dashboardWidget, numbers map[string]int) {
	t.Helper()
	d := tpl.resource(t, "Dashboard", "AWS::CloudWatch::Dashboard")
	body, ok := lookup(d["DashboardBody"], "Fn::Sub").(string)
	if !ok {
		t.Fatalf("DashboardBody = %v, want !Sub JSON", d["DashboardBody"])
	}
	params := tpl.section("Parameters")
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range params {
			if !yield(k) {
				return
			}
		}
	})
	numbers = map[string]int{}
	for i, n := range names {
		if lookup(params[n], "Type") == "Number" {
			numbers[n] = numberMarker(i)
		}
	}
	resources := tpl.section("Resources")
	substituted := regexp.MustCompile(`\$\{([^}!]+)\}`).ReplaceAllStringFunc(body, func(m string) string {
		name := m[2 : len(m)-1]
		base, _, _ := strings.Cut(name, ".")
		switch {
		case name == "AWS::StackName":
			return stackMarker
		case numbers[name] != 0:
			return strconv.Itoa(numbers[name])
		case strings.HasPrefix(name, "AWS::"), params[name] != nil, resources[base] != nil:
			return "sub:" + name
		}
		t.Errorf("DashboardBody: ${%s} names no parameter or resource", name)
		return m
	})
	var doc struct {
		Widgets []dashboardWidget `json:"widgets"`
	}
	dec := json.NewDecoder(strings.NewReader(substituted))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("DashboardBody is not JSON once substituted: %v\n%s", err, substituted)
	}
	return doc.Widgets, numbers
}

// metricRow is one line of a metric widget.
type metricRow struct {
	namespace, name string
	dims            map[string]string
}

func (r metricRow) dimNames() string {
	var names []string
	for k := range r.dims {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// widgetRows reads a metric widget's rows, expanding "." (the previous
// row's value at that position).
func widgetRows(t *testing.T, title string, w dashboardWidget) []metricRow {
	t.Helper()
	var rows []metricRow
	var prev []any
	for _, raw := range list(w.Properties["metrics"]) {
		row := list(raw)
		var fields []any
		for i, v := range row {
			if _, isOpts := v.(map[string]any); isOpts {
				if i != len(row)-1 {
					t.Errorf("%s: options before the end of row %v", title, row)
				}
				break
			}
			if v == "." && i < len(prev) {
				v = prev[i]
			}
			fields = append(fields, v)
		}
		prev = fields
		if len(fields) < 2 || len(fields)%2 != 0 {
			t.Errorf("%s: row %v is not [namespace, metric, (dimension, value)...]", title, row)
			continue
		}
		r := metricRow{namespace: fmt.Sprint(fields[0]), name: fmt.Sprint(fields[1]), dims: map[string]string{}}
		for i := 2; i < len(fields); i += 2 {
			r.dims[fmt.Sprint(fields[i])] = fmt.Sprint(fields[i+1])
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Errorf("%s: metric widget without metrics", title)
	}
	return rows
}

// Every e3sync metric a widget shows is one the code emits, in the
// functions' namespace, with dimensions it is emitted with; the dashboard
// shows what issue 17 asks for.
func TestDashboard(t *testing.T) {
	tpl := loadTemplate(t)
	ns, _ := globalEnv(tpl)[settings.EnvMetricsNS].(string)
	code := emittedMetrics(t)
	widgets, numbers := dashboardBody(t, tpl)
	shown := map[string]bool{} // namespace/name/dim=value,...
	for i, w := range widgets {
		title := fmt.Sprintf("widget %d (%v)", i, w.Properties["title"])
		if w.Type != "metric" {
			continue
		}
		if w.Properties["region"] != "sub:AWS::Region" {
			t.Errorf("%s: region = %v, want ${AWS::Region}", title, w.Properties["region"])
		}
		for _, r := range widgetRows(t, title, w) {
			var dimKeys []string
			for k, v := range r.dims {
				dimKeys = append(dimKeys, k+"="+v)
			}
			slices.Sort(dimKeys)
			shown[r.namespace+"/"+r.name+"/"+strings.Join(dimKeys, ",")] = true
			if strings.HasPrefix(r.namespace, "AWS/") {
				for k, v := range r.dims {
					if !strings.HasPrefix(v, "sub:") {
						t.Errorf("%s: %s %s=%q is not one of the stack's resources", title, r.name, k, v)
					}
				}
				continue
			}
			if r.namespace != ns {
				t.Errorf("%s: namespace %q, want %s's %q", title, r.namespace, settings.EnvMetricsNS, ns)
				continue
			}
			sets, ok := code[r.name]
			if !ok {
				t.Errorf("%s: metric %s is not emitted by the code", title, r.name)
				continue
			}
			if !slices.Contains(sets, r.dimNames()) {
				t.Errorf("%s: %s with dimensions %s, but the code emits it with %v", title, r.name, r.dimNames(), sets)
			}
			if got := r.dims[metrics.DimStack]; got != stackMarker {
				t.Errorf("%s: %s %s = %q, want ${AWS::StackName}", title, r.name, metrics.DimStack, got)
			}
			if typ, ok := r.dims[metrics.DimType]; ok && !slices.Contains(export.AllTypes, export.Type(typ)) {
				t.Errorf("%s: %s %s = %q, not an export type", title, r.name, metrics.DimType, typ)
			}
		}
	}

	stack := "StackName=" + stackMarker
	for _, want := range []string{
		ns + "/" + metrics.NewestSyncedDateAgeHours + "/" + stack + ",Type=decisions",
		ns + "/" + metrics.NewestSyncedDateAgeHours + "/" + stack + ",Type=events",
		ns + "/" + metrics.DatesCompleted + "/" + stack,
		ns + "/" + metrics.ObjectsCopied + "/" + stack,
		ns + "/" + metrics.BytesCopied + "/" + stack,
		ns + "/" + metrics.TasksFailed + "/" + stack,
		ns + "/" + metrics.TaskRetries + "/" + stack,
		ns + "/" + metrics.Continuations + "/" + stack,
		ns + "/" + metrics.TokenRejected + "/" + stack,
		ns + "/" + metrics.TokenAgeDays + "/" + stack,
		ns + "/" + metrics.ObjectsStale + "/" + stack,
		"AWS/SQS/ApproximateNumberOfMessagesVisible/QueueName=sub:TaskQueue.QueueName",
		"AWS/SQS/ApproximateAgeOfOldestMessage/QueueName=sub:TaskQueue.QueueName",
		"AWS/SQS/ApproximateNumberOfMessagesVisible/QueueName=sub:TaskDeadLetterQueue.QueueName",
		"AWS/Lambda/Duration/FunctionName=sub:CopierFunction",
		"AWS/Lambda/Errors/FunctionName=sub:CopierFunction",
		"AWS/Lambda/Throttles/FunctionName=sub:CopierFunction",
		"AWS/Lambda/Errors/FunctionName=sub:FetchCredsFunction",
	} {
		if !shown[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}

	// Freshness is drawn against the staleness threshold parameter.
	threshold := false
	for _, w := range widgets {
		for _, a := range list(lookup(w.Properties, "annotations", "horizontal")) {
			if v, ok := toInt(lookup(a, "value")); ok && v == numbers["StalenessThresholdHours"] {
				for _, r := range widgetRows(t, "freshness", w) {
					threshold = threshold || r.name == metrics.NewestSyncedDateAgeHours
				}
			}
		}
	}
	if !threshold {
		t.Error("no widget draws NewestSyncedDateAgeHours against a horizontal annotation at ${StalenessThresholdHours}")
	}
}

// A failing task raises TasksFailedAlarm within 15 minutes of its first
// failure, and a task that keeps failing reaches the dead-letter queue within
// about an hour with the default back-off.
func TestFailureSignalInMinutes(t *testing.T) {
	tpl := loadTemplate(t)
	a := tpl.resource(t, "TasksFailedAlarm", "AWS::CloudWatch::Alarm")
	stack := []any{map[string]any{"Name": metrics.DimStack, "Value": ref("AWS::StackName")}}
	if a["Namespace"] != "e3sync" || a["MetricName"] != metrics.TasksFailed || !reflect.DeepEqual(a["Dimensions"], stack) {
		t.Errorf("TasksFailedAlarm watches %v %v %v, want e3sync %s per StackName", a["Namespace"], a["MetricName"], a["Dimensions"], metrics.TasksFailed)
	}
	period, _ := toInt(a["Period"])
	n, _ := toInt(a["EvaluationPeriods"])
	if m, ok := toInt(a["DatapointsToAlarm"]); ok {
		n = m
	}
	// EMF metrics land within a couple of minutes; the alarm then needs n periods.
	if window := time.Duration(period*n) * time.Second; window == 0 || window > 10*time.Minute {
		t.Errorf("TasksFailedAlarm needs %v of failures, want at most 10 minutes (15 with ingestion)", window)
	}
	if th, _ := toInt(a["Threshold"]); th != 1 || a["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || a["Statistic"] != "Sum" || a["TreatMissingData"] != "notBreaching" {
		t.Errorf("TasksFailedAlarm = Sum %v %v, missing %v; want Sum >= 1, notBreaching", a["ComparisonOperator"], a["Threshold"], a["TreatMissingData"])
	}

	s, err := settings.Parse(func(k string) string {
		return map[string]string{settings.EnvPATSecret: "arn", settings.EnvDestBucket: "lake", settings.EnvTaskQueue: "https://q"}[k]
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	receives, _ := toInt(lookup(tpl.resource(t, "TaskQueue", "AWS::SQS::Queue"), "RedrivePolicy", "maxReceiveCount"))
	var total time.Duration
	for attempt := 1; attempt <= receives; attempt++ {
		total += pipeline.RetryDelay(s.RetryBackoff, attempt)
	}
	if total == 0 || total > 45*time.Minute {
		t.Errorf("default back-off over %d receives = %v, want a task that keeps failing in the dead-letter queue within about an hour (at most 45 minutes of waits)", receives, total)
	}

	// Only the copier may change visibility, and only on the task queue.
	var changers []string
	for _, st := range policyStatements(t, tpl) {
		if !slices.Contains(st.actions(), "sqs:ChangeMessageVisibility") {
			continue
		}
		changers = append(changers, st.where)
		if !reflect.DeepEqual(st.stmt["Resource"], getAtt("TaskQueue", "Arn")) {
			t.Errorf("%s: sqs:ChangeMessageVisibility on %v, want GetAtt TaskQueue.Arn", st.where, st.stmt["Resource"])
		}
	}
	if !slices.Equal(changers, []string{"CopierFunction"}) {
		t.Errorf("sqs:ChangeMessageVisibility granted to %v, want only CopierFunction", changers)
	}
}

// The rotation reminder is off by default: TokenMaxAgeDays 0 creates no alarm.
func TestTokenAgeReminder(t *testing.T) {
	tpl := loadTemplate(t)
	p := tpl.section("Parameters")["TokenMaxAgeDays"]
	if d, ok := toInt(lookup(p, "Default")); !ok || d != 0 || lookup(p, "Type") != "Number" {
		t.Errorf("TokenMaxAgeDays = %v, want a Number defaulting to 0 (no reminder)", p)
	}
	cond := tpl.section("Conditions")["HasTokenAgeAlarm"]
	want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("TokenMaxAgeDays"), 0}}}}
	if !reflect.DeepEqual(cond, want) {
		t.Errorf("Condition HasTokenAgeAlarm = %v, want %v", cond, want)
	}
	r := tpl.section("Resources")["TokenAgeAlarm"]
	if lookup(r, "Condition") != "HasTokenAgeAlarm" {
		t.Errorf("TokenAgeAlarm Condition = %v, want HasTokenAgeAlarm", lookup(r, "Condition"))
	}
	a := tpl.resource(t, "TokenAgeAlarm", "AWS::CloudWatch::Alarm")
	if a["MetricName"] != metrics.TokenAgeDays || a["Namespace"] != "e3sync" || !reflect.DeepEqual(a["Threshold"], ref("TokenMaxAgeDays")) {
		t.Errorf("TokenAgeAlarm = %v %v > %v, want e3sync %s >= Ref TokenMaxAgeDays", a["Namespace"], a["MetricName"], a["Threshold"], metrics.TokenAgeDays)
	}
	if _, ok := emittedMetrics(t)[metrics.TokenAgeDays]; !ok {
		t.Errorf("%s is not emitted by the code", metrics.TokenAgeDays)
	}
}

// The body follows CloudWatch's dashboard body structure: known widget
// types on the 24-column grid without overlaps, metric widgets with a view,
// statistic and period CloudWatch accepts, alarm widgets listing the
// stack's unconditional alarms.
func TestDashboardLayout(t *testing.T) {
	tpl := loadTemplate(t)
	widgets, _ := dashboardBody(t, tpl)
	raw := lookup(tpl.resource(t, "Dashboard", "AWS::CloudWatch::Dashboard")["DashboardBody"], "Fn::Sub").(string)
	var grid struct {
		Widgets []struct{ X, Y, Width, Height int } `json:"widgets"`
	}
	// Positions are literal numbers: read them from the raw body with every
	// ${...} replaced by 0.
	quoted := regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(raw, `0`)
	if err := json.Unmarshal([]byte(quoted), &grid); err != nil {
		t.Fatal(err)
	}
	taken := map[[2]int]int{}
	overlaps := map[[2]int]bool{}
	for i, g := range grid.Widgets {
		if g.Width < 1 || g.X < 0 || g.X+g.Width > 24 || g.Height < 1 || g.Y < 0 {
			t.Errorf("widget %d at x=%d y=%d %dx%d is off the 24-column grid", i, g.X, g.Y, g.Width, g.Height)
		}
		for x := g.X; x < g.X+g.Width; x++ {
			for y := g.Y; y < g.Y+g.Height; y++ {
				if j, ok := taken[[2]int{x, y}]; ok && !overlaps[[2]int{j, i}] {
					overlaps[[2]int{j, i}] = true
					t.Errorf("widgets %d and %d overlap at x=%d y=%d", j, i, x, y)
				}
				taken[[2]int{x, y}] = i
			}
		}
	}
	stats := regexp.MustCompile(`^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?)$`)
	views := []string{"timeSeries", "singleValue", "bar", "pie", "gauge", "table"}
	for i, w := range widgets {
		title := fmt.Sprintf("widget %d (%v)", i, w.Properties["title"])
		switch w.Type {
		case "text":
			if s, _ := w.Properties["markdown"].(string); s == "" {
				t.Errorf("%s: text widget without markdown", title)
			}
		case "alarm":
			alarms := list(w.Properties["alarms"])
			if len(alarms) == 0 || len(alarms) > 100 {
				t.Errorf("%s: %d alarms, want 1..100", title, len(alarms))
			}
			for _, a := range alarms {
				id, ok := strings.CutSuffix(strings.TrimPrefix(fmt.Sprint(a), "sub:"), ".Arn")
				r, _ := tpl.section("Resources")[id].(map[string]any)
				if !ok || r["Type"] != "AWS::CloudWatch::Alarm" || r["Condition"] != nil {
					t.Errorf("%s: %v is not ${<unconditional alarm>.Arn}", title, a)
				}
			}
		case "metric":
			if v := w.Properties["view"]; !slices.Contains(views, fmt.Sprint(v)) {
				t.Errorf("%s: view %v, want one of %v", title, v, views)
			}
			if p, ok := toInt(w.Properties["period"]); !ok || p < 60 || p%60 != 0 {
				t.Errorf("%s: period %v, want a multiple of 60 seconds", title, w.Properties["period"])
			}
			for _, row := range list(w.Properties["metrics"]) {
				stat := w.Properties["stat"]
				r := list(row)
				if opts, ok := r[len(r)-1].(map[string]any); ok && opts["stat"] != nil {
					stat = opts["stat"]
				}
				if !stats.MatchString(fmt.Sprint(stat)) {
					t.Errorf("%s: row %v has statistic %v", title, r, stat)
				}
			}
		default:
			t.Errorf("%s: widget type %q", title, w.Type)
		}
	}
}
