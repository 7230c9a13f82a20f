package store

import (
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NameRules are how a file system compares and restricts names, where they
// differ from S3's (keys are opaque bytes there):
//
//	rule        | file systems                        | keys that cannot be distinct files
//	FoldsCase   | macOS (APFS, HFS+ default), Windows | "event=Purchase/…" and "event=purchase/…"
//	Normalises  | macOS                               | "event=café/…" in NFC and in NFD
//	Windows     | Windows (NTFS, FAT), any OS         | a segment with <>:"|?*\ or a control character,
//	            |                                     | ending in '.' or ' ', or a reserved name (CON, NUL, COM1, …)
//
// Such keys would silently merge into one folder or file, or fail on every
// run. A Dir checks each task's keys against its rules before copying
// (CheckNames) and refuses them with a *NameError naming them: they are
// never mapped to other names.
type NameRules struct {
	FoldsCase  bool
	Normalises bool
	Windows    bool
}

// foldName is the form under which r compares name: names with the same
// form are the same file.
func (r NameRules) foldName(name string) string {
	if r.Normalises {
		name = norm.NFC.String(name)
	}
	if r.FoldsCase {
		name = cases.Fold().String(name)
	}
	return name
}

// WindowsNameProblem says why Windows cannot store a file or folder named
// segment (one path segment), or returns "".
func WindowsNameProblem(segment string) string {
	if i := strings.IndexAny(segment, `<>:"|?*\`); i >= 0 {
		return fmt.Sprintf("has the character %q, which Windows forbids in names", segment[i])
	}
	for _, c := range segment {
		if c < 0x20 {
			return "has a control character, which Windows forbids in names"
		}
	}
	if strings.HasSuffix(segment, ".") || strings.HasSuffix(segment, " ") {
		return "ends in a dot or a space, which Windows drops"
	}
	base, _, _ := strings.Cut(segment, ".")
	switch base = strings.ToUpper(strings.TrimRight(base, " ")); {
	case base == "CON", base == "PRN", base == "AUX", base == "NUL",
		len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '1' && base[3] <= '9':
		return "is a name Windows reserves for a device"
	}
	return ""
}

// NameError is keys a directory cannot hold as distinct files: they differ
// only in letter case or Unicode normalisation, or Windows forbids one of
// their names. Retrying cannot help (it wraps ErrInvalidKey).
type NameError struct {
	Dir     string
	Problem string   // why, in a few words
	Keys    []string // the keys (or folders, ending in "/") concerned
}

func (e *NameError) Error() string {
	quoted := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		quoted[i] = fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("destination %s cannot hold %s as distinct files: %s; sync them to an S3 bucket or a directory on a "+
		"case-sensitive file system (Linux)", e.Dir, strings.Join(quoted, ", "), e.Problem)
}

func (e *NameError) Unwrap() error { return ErrInvalidKey }

// Clashes returns the groups of paths among keys (and their folders) that r
// takes for one name, each group sorted, folders ending in "/". A group is
// left out when its paths' folders already clash (the folder group says
// it).
func (r NameRules) Clashes(keys []string) [][]string {
	if !r.FoldsCase && !r.Normalises {
		return nil
	}
	byFold := map[string][]string{} // folded path -> the paths with that form
	for _, k := range keys {
		for p := range folders(k) {
			p = strings.TrimSuffix(p, "/")
			if f := r.foldName(p); !slices.Contains(byFold[f], p) {
				byFold[f] = append(byFold[f], p)
			}
		}
	}
	var out [][]string
	for _, paths := range byFold {
		if len(paths) < 2 {
			continue
		}
		parent := func(p string) string { return p[:strings.LastIndexByte(p, '/')+1] }
		if dir := parent(paths[0]); dir != "" && len(byFold[r.foldName(strings.TrimSuffix(dir, "/"))]) > 1 {
			continue // the folders already clash
		}
		group := make([]string, len(paths))
		for i, p := range paths {
			group[i] = p
			if !slices.Contains(keys, p) {
				group[i] = p + "/"
			}
		}
		slices.Sort(group)
		out = append(out, group)
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// Check returns a *NameError for the first problem r finds among keys: a
// name Windows forbids, or paths r takes for one name; else nil.
func (r NameRules) Check(dir string, keys []string) error {
	if r.Windows {
		for _, k := range keys {
			for _, seg := range strings.Split(k, "/") {
				if why := WindowsNameProblem(seg); why != "" {
					return &NameError{Dir: dir, Problem: fmt.Sprintf("%q %s", seg, why), Keys: []string{k}}
				}
			}
		}
	}
	if c := r.Clashes(keys); len(c) > 0 {
		why := "they differ only in letter case or Unicode normalisation, and this file system takes them for one name"
		return &NameError{Dir: dir, Problem: why, Keys: c[0]}
	}
	return nil
}

// osNameRules are the rules of the file systems an OS usually has, for a
// directory where they cannot be probed.
func osNameRules() NameRules {
	switch runtime.GOOS {
	case "darwin", "ios":
		return NameRules{FoldsCase: true, Normalises: true}
	case "windows":
		return NameRules{FoldsCase: true, Windows: true}
	}
	return NameRules{}
}

// probeNameRules finds the rules of the file system of dir by writing one
// hidden file in it and looking it up under other names (it is removed
// again); Windows' forbidden names go with the OS. A directory that cannot
// be written gets osNameRules.
func probeNameRules(dir string) NameRules {
	// "Å" as one code point (NFC); the file is looked up in lower case and
	// in NFD (A + combining ring).
	f, err := os.CreateTemp(dir, ".name-probe-\u00c5-*"+tmpSuffix)
	if err != nil {
		return osNameRules()
	}
	f.Close()
	defer os.Remove(f.Name())
	name := filepath.Base(f.Name())
	exists := func(n string) bool {
		_, err := os.Lstat(filepath.Join(dir, n))
		return err == nil
	}
	return NameRules{
		FoldsCase:  exists(strings.Replace(name, "\u00c5", "\u00e5", 1)),
		Normalises: exists(strings.Replace(name, "\u00c5", "A\u030a", 1)),
		Windows:    runtime.GOOS == "windows",
	}
}

// dirNames is a Dir's name rules, found on first use, and the paths its
// tasks have claimed in this process, by folded form: two tasks running at
// once (event=Foo and event=foo) are told apart before either writes.
type dirNames struct {
	mu      sync.Mutex
	rules   *NameRules
	claimed map[string]string // folded path (no trailing "/") -> the path that claimed it
}

// SetNameRules sets the rules CheckNames applies instead of those found by
// probing the directory (a file system mounted with other rules, tests).
func (d *Dir) SetNameRules(r NameRules) {
	d.names.mu.Lock()
	defer d.names.mu.Unlock()
	d.names.rules = &r
}

// NameRules returns the rules of the directory's file system: probed once
// (see probeNameRules) unless set.
func (d *Dir) NameRules() NameRules {
	d.names.mu.Lock()
	defer d.names.mu.Unlock()
	if d.names.rules == nil {
		r := probeNameRules(d.root)
		d.names.rules = &r
	}
	return *d.names.rules
}

// CheckNames returns a *NameError when the directory cannot hold keys (the
// keys of one task, under the folder prefix, from both sides) as distinct
// files under its NameRules: names Windows forbids, keys or folders that
// differ only in letter case or Unicode normalisation among keys, from a
// folder already on disk, or from those another task claimed before. On a
// file system with none of the rules (Linux) it costs nothing.
func (d *Dir) CheckNames(prefix string, keys []string) error {
	r := d.NameRules()
	if err := r.Check(d.String(), keys); err != nil || (!r.FoldsCase && !r.Normalises) {
		return err
	}
	clash := func(a, b string) error {
		return &NameError{Dir: d.String(), Problem: "they differ only in letter case or Unicode normalisation, and this " +
			"file system takes them for one name", Keys: []string{a, b}}
	}
	// The folders of prefix, against the names already on disk.
	for folder := range folders(prefix) {
		parent, name := splitParent(strings.TrimSuffix(folder, "/"))
		entries, err := os.ReadDir(filepath.Join(d.root, filepath.FromSlash(parent)))
		if err != nil {
			break // not there yet
		}
		for _, e := range entries {
			if e.Name() != name && r.foldName(e.Name()) == r.foldName(name) {
				return clash(parent+e.Name()+"/", folder)
			}
		}
	}
	// Every key and folder, against those other tasks claimed.
	d.names.mu.Lock()
	defer d.names.mu.Unlock()
	if d.names.claimed == nil {
		d.names.claimed = map[string]string{}
	}
	claim := map[string]string{}
	for _, k := range slices.Concat(keys, []string{prefix}) {
		for p := range folders(k) {
			f := r.foldName(strings.TrimSuffix(p, "/"))
			if old, ok := d.names.claimed[f]; ok && strings.TrimSuffix(old, "/") != strings.TrimSuffix(p, "/") {
				return clash(old, p)
			}
			claim[f] = p
		}
	}
	maps.Copy(d.names.claimed, claim)
	return nil
}

// folders yields the folders of key, outermost first, each ending in "/",
// and then key itself when it does not end in "/".
func folders(key string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(key); i++ {
			if (key[i] == '/' || i == len(key)-1) && !yield(key[:i+1]) {
				return
			}
		}
	}
}

// splitParent splits path into its parent folder ("" or ending in "/") and
// its last segment.
func splitParent(path string) (string, string) {
	i := strings.LastIndexByte(path, '/')
	return path[:i+1], path[i+1:]
}
