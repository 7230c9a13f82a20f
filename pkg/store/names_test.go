package store

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestWindowsNameProblem(t *testing.T) {
	for _, c := range []struct {
		segment string
		want    string // in the problem; "" for none
	}{
		{"part-00000-a.c000.snappy.parquet", ""},
		{"event=checkout%3Astart", ""},
		{"event=video play", ""},
		{"event=promo;code(2)", ""},
		{"event=CON", ""}, // only whole names are reserved
		{"CONSOLE", ""},
		{"COM0", ""},
		{"event=a:b", `character ':'`},
		{"a<b", `character '<'`},
		{"a>b", `character '>'`},
		{`a"b`, `character '"'`},
		{"a|b", `character '|'`},
		{"a?b", `character '?'`},
		{"a*b", `character '*'`},
		{`a\b`, `character '\\'`},
		{"a\x01b", "control character"},
		{"event=foo.", "ends in a dot or a space"},
		{"event=foo ", "ends in a dot or a space"},
		{"CON", "reserves for a device"},
		{"nul", "reserves for a device"},
		{"Aux.parquet", "reserves for a device"},
		{"COM1", "reserves for a device"},
		{"lpt9.txt", "reserves for a device"},
		{"PRN ", "ends in a dot or a space"},
	} {
		got := WindowsNameProblem(c.segment)
		if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
			t.Errorf("WindowsNameProblem(%q) = %q, want %q", c.segment, got, c.want)
		}
	}
}

const nfc, nfd = "event=caf\u00e9", "event=cafe\u0301"

// Which keys clash under which rules, one row per case of the table in
// names.go.
func TestClashes(t *testing.T) {
	d := "type=events/date=2024-01-02/"
	folds := NameRules{FoldsCase: true}
	normalises := NameRules{Normalises: true}
	mac := NameRules{FoldsCase: true, Normalises: true}
	for _, c := range []struct {
		name  string
		rules NameRules
		keys  []string
		want  [][]string
	}{
		{"case, case-sensitive", NameRules{}, []string{d + "event=Foo/p", d + "event=foo/p"}, nil},
		{"folders differ in case", folds, []string{d + "event=Foo/p0", d + "event=foo/p1"}, [][]string{{d + "event=Foo/", d + "event=foo/"}}},
		{"files differ in case", folds, []string{d + "e/part-A", d + "e/part-a", d + "e/part-b"}, [][]string{{d + "e/part-A", d + "e/part-a"}}},
		{"file and folder", folds, []string{d + "E", d + "e/p"}, [][]string{{d + "E", d + "e/"}}},
		{"only the outer clash", folds, []string{d + "A/x", d + "a/X"}, [][]string{{d + "A/", d + "a/"}}},
		{"normalisation, not normalising", folds, []string{d + nfc + "/p", d + nfd + "/p"}, nil},
		{"normalisation", normalises, []string{d + nfc + "/p", d + nfd + "/p"}, [][]string{{d + nfd + "/", d + nfc + "/"}}}, // sorted: "e" before "\u00e9"
		{"case, only normalising", normalises, []string{d + "A", d + "a"}, nil},
		{"macOS, both", mac, []string{d + "event=CAF\u00c9/p", d + nfd + "/p", d + "x"}, [][]string{{d + "event=CAF\u00c9/", d + nfd + "/"}}},
		{"folder keys from a listing", folds, []string{d + "event=Foo/", d + "event=foo/"}, [][]string{{d + "event=Foo/", d + "event=foo/"}}},
		{"no clash", mac, []string{d + "a/p", d + "b/p", d + "a/q"}, nil},
	} {
		if got := c.rules.Clashes(c.keys); !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s: %+v.Clashes(%q) = %q, want %q", c.name, c.rules, c.keys, got, c.want)
		}
	}
}

func TestNameRulesCheck(t *testing.T) {
	win := NameRules{FoldsCase: true, Windows: true}
	err := win.Check("C:\\x\\", []string{"type=events/date=2024-01-02/event=foo./p"})
	var ne *NameError
	if !errors.As(err, &ne) || !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), `"event=foo." ends in a dot or a space`) {
		t.Errorf("Check(trailing dot) = %v; want a NameError naming the segment", err)
	}
	err = win.Check("C:\\x\\", []string{"a/Foo/p", "a/foo/p"})
	if !errors.As(err, &ne) || !slices.Equal(ne.Keys, []string{"a/Foo/", "a/foo/"}) || !strings.Contains(err.Error(), "differ only in letter case") {
		t.Errorf("Check(case) = %v; want a NameError naming both folders", err)
	}
	if err := (NameRules{}).Check("/x/", []string{"a/Foo/p", "a/foo/p", "a/b./c"}); err != nil {
		t.Errorf("Check() with no rules = %v", err)
	}
}

// The rules probed on this machine's temporary directory: Linux file
// systems take names as bytes.
func TestProbeNameRules(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("expectations for Linux")
	}
	dir := t.TempDir()
	if got := probeNameRules(dir); got != (NameRules{}) {
		t.Errorf("probeNameRules(%s) = %+v; want none on Linux", dir, got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the probe left %v", entries)
	}
}

// CheckNames, with the rules of a case-insensitive file system: against
// folders already on disk, and against what an earlier task claimed.
func TestDirCheckNames(t *testing.T) {
	root := t.TempDir()
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	d.SetNameRules(NameRules{FoldsCase: true})
	day := "type=events/date=2024-01-02/"
	if err := os.MkdirAll(filepath.Join(root, "type=events", "date=2024-01-02", "event=Purchase"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = d.CheckNames(day+"event=purchase/", []string{day + "event=purchase/p0"})
	var ne *NameError
	if !errors.As(err, &ne) || !slices.Equal(ne.Keys, []string{day + "event=Purchase/", day + "event=purchase/"}) {
		t.Errorf("CheckNames(a folder on disk in other case) = %v", err)
	}
	if err := d.CheckNames(day+"event=Purchase/", []string{day + "event=Purchase/p0"}); err != nil {
		t.Errorf("CheckNames(the folder on disk) = %v", err)
	}
	if err := d.CheckNames(day+"event=Cart/", []string{day + "event=Cart/p0"}); err != nil {
		t.Errorf("CheckNames(a new folder) = %v", err)
	}
	err = d.CheckNames(day+"event=cart/", []string{day + "event=cart/p0"})
	if !errors.As(err, &ne) || !slices.Equal(ne.Keys, []string{day + "event=Cart/", day + "event=cart/"}) {
		t.Errorf("CheckNames(a folder another task claimed, other case) = %v", err)
	}
	if err := d.CheckNames(day+"event=Cart/", []string{day + "event=Cart/p1"}); err != nil {
		t.Errorf("CheckNames(the same folder again) = %v", err)
	}
}
