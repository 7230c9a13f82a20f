package e3sync_test

// The CloudFormation decoder the template tests read template.yaml with:
// yaml.v3 nodes into maps, slices and scalars, CloudFormation short tags
// (!Ref, !Sub, !GetAtt, !If...) into their long form ({"Ref": x},
// {"Fn::Sub": x}, ...), and accessors for sections, resources and paths.

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const templatePath = "template.yaml"

// cfnTemplate is template.yaml decoded into generic values.
type cfnTemplate map[string]any

func loadTemplate(t *testing.T) cfnTemplate {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s: %v", templatePath, err)
	}
	v, err := decodeCFN(&doc)
	if err != nil {
		t.Fatalf("decode %s: %v", templatePath, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: top level is %T, want a mapping", templatePath, v)
	}
	return m
}

// decodeCFN turns a YAML node into maps, slices and scalars, rewriting
// CloudFormation short tags into their long form.
func decodeCFN(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return decodeCFN(n.Content[0])
	case yaml.AliasNode:
		return decodeCFN(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := decodeCFN(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := decodeCFN(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		plain := *n
		if isShortTag(n.Tag) {
			plain.Tag = "" // resolve the scalar as if untagged
		}
		if err := plain.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
	if !isShortTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	key := "Fn::" + name
	switch name {
	case "Ref", "Condition":
		key = name
	case "GetAtt":
		if s, ok := v.(string); ok { // !GetAtt Resource.Attribute
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
	}
	return map[string]any{key: v}, nil
}

func isShortTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }
func sub(s string) map[string]any    { return map[string]any{"Fn::Sub": s} }
func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

func (tpl cfnTemplate) section(name string) map[string]any {
	m, _ := tpl[name].(map[string]any)
	return m
}

// resource returns a resource's Properties, failing the test when the
// resource is missing or has another type.
func (tpl cfnTemplate) resource(t *testing.T, id, typ string) map[string]any {
	t.Helper()
	r, ok := tpl.section("Resources")[id].(map[string]any)
	if !ok {
		t.Fatalf("resource %s is missing", id)
	}
	if r["Type"] != typ {
		t.Fatalf("resource %s has Type %v, want %s", id, r["Type"], typ)
	}
	props, _ := r["Properties"].(map[string]any)
	return props
}

// resourceIDs returns the logical ids of all resources of a type, sorted.
func (tpl cfnTemplate) resourceIDs(typ string) []string {
	var ids []string
	for id, r := range tpl.section("Resources") {
		if m, ok := r.(map[string]any); ok && m["Type"] == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// lookup follows a path of map keys.
func lookup(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		return int(x), x == float64(int(x))
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func list(v any) []any {
	if s, ok := v.([]any); ok {
		return s
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func TestDecodeShortTags(t *testing.T) {
	const src = `
a: !Ref X
b: !GetAtt Q.Arn
c: !Sub "arn:${AWS::Partition}:s3:::${B}"
d: !If [C, !Ref Y, !Ref AWS::NoValue]
e: !Not [!Equals [!Ref K, ""]]
f: 5400
g: !Condition HasKey
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := decodeCFN(&doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": ref("X"),
		"b": getAtt("Q", "Arn"),
		"c": sub("arn:${AWS::Partition}:s3:::${B}"),
		"d": map[string]any{"Fn::If": []any{"C", ref("Y"), ref("AWS::NoValue")}},
		"e": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("K"), ""}}}},
		"f": 5400,
		"g": map[string]any{"Condition": "HasKey"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeCFN = %#v, want %#v", got, want)
	}
}
