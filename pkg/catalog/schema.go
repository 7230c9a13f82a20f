// Package catalog keeps the Glue Data Catalog and the export's schema in
// step with the mirrored export: it registers the sub-partitions the copy
// completes as Glue partitions (so every engine that reads the catalog sees
// them, and a query may span all experiments or events of a date range), and
// it notices when Optimizely changes the Parquet schema.
//
// Parquet schemas map to Glue (Hive) column types, the types Athena reads
// the export with; template.yaml's Glue tables are checked against this
// mapping, for both the seeded export's schemas (internal/exportseed) and the real
// export's files.
//
// Mapping (Hive DDL type names, as Glue stores them):
//
//	BYTE_ARRAY STRING/ENUM/JSON/UTF8   string
//	BYTE_ARRAY (no annotation)         binary
//	BOOLEAN                            boolean
//	INT32 / INT(8|16|32)               int / tinyint / smallint / int
//	INT32 DATE                         date
//	INT64 / INT(64)                    bigint
//	INT64 TIMESTAMP(any unit), INT96   timestamp
//	FLOAT, DOUBLE                      float, double
//	DECIMAL(p,s)                       decimal(p,s)
//	group LIST                         array<element>
//	group MAP                          map<key,value>
//	other group                        struct<name:type,...>
package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// Column is one column of a Glue table.
type Column struct {
	Name string
	Type string
}

// Columns returns the top-level columns of a schema, in the schema's order.
func Columns(schema parquet.Node) ([]Column, error) {
	var cols []Column
	var errs []error
	for _, f := range schema.Fields() {
		t, err := Type(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("column %s: %w", f.Name(), err))
		}
		cols = append(cols, Column{Name: f.Name(), Type: t})
	}
	return cols, errors.Join(errs...)
}

// Type returns the Hive type of one schema node.
func Type(n parquet.Node) (string, error) {
	if n.Leaf() {
		return leafType(n.Type())
	}
	lt, ct := n.Type().LogicalType(), n.Type().ConvertedType()
	switch {
	case isLogical[*format.ListType](lt) || isConverted(ct, deprecated.List):
		return listType(n)
	case isLogical[*format.MapType](lt) || isConverted(ct, deprecated.Map) || isConverted(ct, deprecated.MapKeyValue):
		return mapType(n)
	}
	fields := n.Fields()
	parts := make([]string, len(fields))
	for i, f := range fields {
		t, err := Type(f)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.Name(), err)
		}
		parts[i] = f.Name() + ":" + t
	}
	return "struct<" + strings.Join(parts, ",") + ">", nil
}

// listType reads the three-level LIST layout (group LIST { repeated group
// list { element } }) and the legacy two-level one, where the repeated
// field is the element itself.
func listType(n parquet.Node) (string, error) {
	fs := n.Fields()
	if len(fs) != 1 {
		return "", fmt.Errorf("LIST group with %d fields, want 1", len(fs))
	}
	elem := parquet.Node(fs[0])
	if !elem.Leaf() && len(elem.Fields()) == 1 && fs[0].Name() != "array" && !strings.HasSuffix(fs[0].Name(), "_tuple") {
		elem = elem.Fields()[0]
	}
	t, err := Type(elem)
	if err != nil {
		return "", err
	}
	return "array<" + t + ">", nil
}

// mapType reads group MAP { repeated group key_value { key; value } }.
func mapType(n parquet.Node) (string, error) {
	fs := n.Fields()
	if len(fs) != 1 || fs[0].Leaf() || len(fs[0].Fields()) != 2 {
		return "", errors.New("MAP group is not { repeated group key_value { key; value } }")
	}
	kv := fs[0].Fields()
	k, err := Type(kv[0])
	if err != nil {
		return "", err
	}
	v, err := Type(kv[1])
	if err != nil {
		return "", err
	}
	return "map<" + k + "," + v + ">", nil
}

func leafType(t parquet.Type) (string, error) {
	lt, ct := t.LogicalType(), t.ConvertedType()
	if d, ok := logical[*format.DecimalType](lt); ok {
		return fmt.Sprintf("decimal(%d,%d)", d.Precision, d.Scale), nil
	}
	switch t.Kind() {
	case parquet.Boolean:
		return "boolean", nil
	case parquet.Int32:
		return int32Type(lt, ct), nil
	case parquet.Int64:
		return int64Type(lt, ct), nil
	case parquet.Int96:
		return "timestamp", nil
	case parquet.Float:
		return "float", nil
	case parquet.Double:
		return "double", nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return bytesType(lt, ct), nil
	}
	return "", fmt.Errorf("unsupported Parquet type %s", t)
}

// int32Type is the Hive type of an INT32 column: date, tinyint, smallint or int.
func int32Type(lt *format.LogicalType, ct *deprecated.ConvertedType) string {
	if isLogical[*format.DateType](lt) || isConverted(ct, deprecated.Date) {
		return "date"
	}
	if it, ok := logical[*format.IntType](lt); ok {
		switch it.BitWidth {
		case 8:
			return "tinyint"
		case 16:
			return "smallint"
		}
	}
	return "int"
}

// int64Type is the Hive type of an INT64 column: timestamp or bigint.
func int64Type(lt *format.LogicalType, ct *deprecated.ConvertedType) string {
	if isLogical[*format.TimestampType](lt) || isConverted(ct, deprecated.TimestampMillis) || isConverted(ct, deprecated.TimestampMicros) {
		return "timestamp"
	}
	return "bigint"
}

// bytesType is the Hive type of a (fixed length) byte array column: string
// for text (STRING, ENUM, JSON, UTF8), else binary.
func bytesType(lt *format.LogicalType, ct *deprecated.ConvertedType) string {
	if isLogical[*format.StringType](lt) || isLogical[*format.EnumType](lt) || isLogical[*format.JsonType](lt) ||
		isConverted(ct, deprecated.UTF8) || isConverted(ct, deprecated.Enum) || isConverted(ct, deprecated.Json) {
		return "string"
	}
	return "binary"
}

func logical[T format.LogicalTypeValue](lt *format.LogicalType) (T, bool) {
	var zero T
	if lt == nil {
		return zero, false
	}
	v, ok := lt.Value.(T)
	return v, ok
}

func isLogical[T format.LogicalTypeValue](lt *format.LogicalType) bool {
	_, ok := logical[T](lt)
	return ok
}

func isConverted(ct *deprecated.ConvertedType, want deprecated.ConvertedType) bool {
	return ct != nil && *ct == want
}

// FileColumns returns the columns of a local Parquet file's schema, read
// from its footer like ObjectColumns.
func FileColumns(path string) ([]Column, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return ObjectColumns(context.Background(), localFile{}, path, st.Size())
}

// localFile opens keys as local paths.
type localFile struct{}

func (localFile) Open(_ context.Context, path string) (io.ReadCloser, error) { return os.Open(path) }
