package catalog_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/e3sync/e3sync/internal/exportseed"
	"github.com/e3sync/e3sync/internal/fixture"
	"github.com/e3sync/e3sync/pkg/catalog"
)

// fixtures is the real sample of Optimizely's export (see DESIGN.md).
var fixtures = fixture.SampleDir()

func TestTypes(t *testing.T) {
	type inner struct {
		A *string `parquet:"a,optional"`
		B int32   `parquet:"b"`
	}
	type row struct {
		S    *string           `parquet:"s,optional"`
		Raw  []byte            `parquet:"raw"`
		B    bool              `parquet:"b"`
		I8   int8              `parquet:"i8,int(8)"`
		I16  int16             `parquet:"i16,int(16)"`
		I32  int32             `parquet:"i32"`
		I64  int64             `parquet:"i64"`
		F    float32           `parquet:"f"`
		D    float64           `parquet:"d"`
		TsMs time.Time         `parquet:"ts_ms,timestamp(millisecond)"`
		TsUs time.Time         `parquet:"ts_us,timestamp(microsecond)"`
		Day  time.Time         `parquet:"day,date"`
		Dec  int64             `parquet:"dec,decimal(2:18)"`
		L    []string          `parquet:"l,list"`
		LS   []inner           `parquet:"ls,list"`
		M    map[string]string `parquet:"m"`
		MI   map[string]int64  `parquet:"mi"`
		St   inner             `parquet:"st"`
	}
	got, err := catalog.Columns(parquet.SchemaOf(row{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.Column{
		{"s", "string"}, {"raw", "binary"}, {"b", "boolean"}, {"i8", "tinyint"}, {"i16", "smallint"},
		{"i32", "int"}, {"i64", "bigint"}, {"f", "float"}, {"d", "double"},
		{"ts_ms", "timestamp"}, {"ts_us", "timestamp"}, {"day", "date"}, {"dec", "decimal(18,2)"},
		{"l", "array<string>"}, {"ls", "array<struct<a:string,b:int>>"},
		{"m", "map<string,string>"}, {"mi", "map<string,bigint>"},
		{"st", "struct<a:string,b:int>"},
	}
	for i := range max(len(got), len(want)) {
		var g, w catalog.Column
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("column %d = %+v, want %+v", i, g, w)
		}
	}
}

// The Glue columns of the export, as template.yaml declares them.
var (
	decisionColumns = []catalog.Column{
		{"uuid", "string"}, {"timestamp", "timestamp"}, {"process_timestamp", "timestamp"},
		{"visitor_id", "string"}, {"session_id", "string"}, {"account_id", "string"},
		{"campaign_id", "string"}, {"experiment_id", "string"}, {"variation_id", "string"},
		{"attributes", "array<struct<id:string,name:string,type:string,value:string>>"},
		{"user_ip", "string"}, {"user_agent", "string"}, {"referer", "string"}, {"is_holdback", "boolean"},
		{"revision", "string"}, {"client_engine", "string"}, {"client_version", "string"},
	}
	eventColumns = []catalog.Column{
		{"uuid", "string"}, {"timestamp", "timestamp"}, {"process_timestamp", "timestamp"},
		{"visitor_id", "string"}, {"session_id", "string"}, {"account_id", "string"},
		{"experiments", "array<struct<campaign_id:string,experiment_id:string,variation_id:string,is_holdback:boolean>>"},
		{"entity_id", "string"},
		{"attributes", "array<struct<id:string,name:string,type:string,value:string>>"},
		{"user_ip", "string"}, {"user_agent", "string"}, {"referer", "string"},
		{"event_type", "string"}, {"event_name", "string"}, {"revenue", "bigint"}, {"value", "double"},
		{"quantity", "bigint"}, {"tags", "map<string,string>"},
		{"revision", "string"}, {"client_engine", "string"}, {"client_version", "string"},
	}
)

func TestEmulatorSchemas(t *testing.T) {
	for _, tt := range []struct {
		name   string
		schema *parquet.Schema
		want   []catalog.Column
	}{
		{"decisions", exportseed.DecisionSchema(), decisionColumns},
		{"events", exportseed.EventSchema(), eventColumns},
	} {
		got, err := catalog.Columns(tt.schema)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Columns(%s schema) = %v, %v\nwant %v", tt.name, got, err, tt.want)
		}
	}
}

// Every file of the real sample maps to the same columns.
func TestRealExportFiles(t *testing.T) {
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("no fixtures: %v", err)
	}
	want := map[string][]catalog.Column{"decisions": decisionColumns, "events": eventColumns}
	for typ, cols := range want {
		files, _ := filepath.Glob(filepath.Join(fixtures, "type="+typ, "date=*", "*=*", "*.parquet"))
		if len(files) == 0 {
			t.Errorf("no %s files in %s", typ, fixtures)
		}
		for _, f := range files {
			got, err := catalog.FileColumns(f)
			if err != nil || !slices.Equal(got, cols) {
				t.Errorf("FileColumns(%s) = %v, %v\nwant %v", f, got, err, cols)
			}
		}
	}
}
