// Package strictjson decodes a JSON object into a struct more strictly than
// encoding/json: encoding/json matches field names without regard to letter
// case and lets the last of duplicate keys win, so {"Type":"a","type":"b"}
// decodes silently. For messages from outside the process (queue tasks,
// invocation payloads) both are errors here, named in the message.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Decode decodes data, one JSON value, into the struct v points to. When
// data is an object, each of its keys must be exactly the JSON name of one
// of the struct's fields (as encoding/json names it: the json tag, else the
// Go field name), at most once. Unknown fields and trailing data are errors.
// Only the top level is checked: the structs decoded with it are flat.
func Decode(data []byte, v any) error {
	if err := checkKeys(data, fieldNames(reflect.TypeOf(v))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// checkKeys checks the keys of data's top-level object against names. A
// value that is not an object is left to encoding/json to report.
func checkKeys(data []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // object keys are always strings
		switch {
		case seen[key]:
			return fmt.Errorf("duplicate field %q", key)
		case !names[key]:
			for n := range names {
				if strings.EqualFold(n, key) {
					return fmt.Errorf("unknown field %q: field names are case-sensitive, did you mean %q?", key, n)
				}
			}
			return fmt.Errorf("unknown field %q", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// fieldNames returns the JSON names of the exported fields of the struct t
// is (or points to).
func fieldNames(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}
