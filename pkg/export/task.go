package export

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/e3sync/e3sync/pkg/strictjson"
)

// Task is one unit of copy work: one sub-partition of one date of one export
// type. It is plain data, safe to log and to send through a queue: it never
// carries credentials or tokens. Keys are relative to the account root on the
// source side and to the destination root on the other: the destination
// mirrors the source byte for byte.
type Task struct {
	RunID string `json:"run_id,omitempty"`
	Type  Type   `json:"type"`
	Date  string `json:"date"`
	// Partition is the sub-partition folder, e.g. "experiment=123" or
	// "event=add to cart". Empty means the files directly in the date folder
	// (other than _SUCCESS); such a task is also planned for a date that has
	// no sub-partitions, so that its _SUCCESS is mirrored.
	Partition string `json:"partition"`
	// SourceComplete records that the source date had _SUCCESS when the task
	// was planned; the copier then checks whether the whole date is copied.
	SourceComplete bool `json:"source_complete"`
	// ForceBefore, when set, copies again every object not copied since
	// that time, even those already up to date (a forced backfill). A time,
	// not a flag, so that a forced task continued in a later invocation
	// does not copy the objects its earlier invocations already copied.
	ForceBefore time.Time `json:"force_before,omitzero"`
	// Stalls counts the invocations in a row that ran out of time without
	// copying one object (set by the copier on a continuation); the copier
	// fails a task that stalls too often instead of continuing it forever.
	Stalls int `json:"stalls,omitzero"`
}

// ErrInvalidTask is wrapped by every Task.Validate error.
var ErrInvalidTask = errors.New("invalid task")

// MaxClockSkew is how far in the future a task's ForceBefore may lie: the
// planner sets it to its own clock, which may run ahead of the copier's.
const MaxClockSkew = 5 * time.Minute

// MaxTaskBytes bounds an encoded task: a message larger than this is rejected
// before it is parsed.
const MaxTaskBytes = 16 << 10

// Prefix is the key prefix the task covers, relative to the account root (and
// to the destination root): "type=events/date=2020-09-14/event=purchase/".
// For a date-level task it is the date prefix.
func (t Task) Prefix() string {
	if t.Partition == "" {
		return DatePrefix(t.Type, t.Date)
	}
	return DatePrefix(t.Type, t.Date) + t.Partition + "/"
}

// String names the task for logs and errors.
func (t Task) String() string {
	if t.Partition == "" {
		return string(t.Type) + "/" + t.Date
	}
	return string(t.Type) + "/" + t.Date + "/" + t.Partition
}

// Validate reports what is wrong with t, if anything. A valid task's Prefix
// stays inside the account root: no "..", no "/", no NUL. Its ForceBefore
// is not later than now plus MaxClockSkew.
func (t Task) Validate() error {
	var problems []string
	if _, err := ParseType(string(t.Type)); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := ParseDate(t.Date); err != nil {
		problems = append(problems, err.Error())
	}
	if err := validPartition(t.Partition); err != nil {
		problems = append(problems, err.Error())
	}
	if limit := time.Now().Add(MaxClockSkew); t.ForceBefore.After(limit) {
		problems = append(problems, fmt.Sprintf("force_before %s is in the future (later than now plus %s of clock skew): "+
			"objects copied now would count as copied before it, so the task would copy them again on every run",
			t.ForceBefore.UTC().Format(time.RFC3339), MaxClockSkew))
	}
	if t.Stalls < 0 {
		problems = append(problems, fmt.Sprintf("stalls %d is negative", t.Stalls))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w %s: %s", ErrInvalidTask, t, strings.Join(problems, "; "))
	}
	return nil
}

// validPartition accepts any folder name: keys are opaque bytes (event
// names are free text), so only what cannot be one path segment, or could
// climb out of the date folder, is refused.
func validPartition(p string) error {
	switch {
	case p == "":
		return nil
	case p == "." || p == "..":
		return fmt.Errorf("partition %q is not a folder name", p)
	case strings.Contains(p, "/"):
		return fmt.Errorf("partition %q contains '/'", p)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("partition %q contains a NUL byte", p)
	case len(p) > 1024:
		return fmt.Errorf("partition is %d bytes long (at most 1024)", len(p))
	}
	return nil
}

// DecodeTask parses and validates one JSON-encoded task. Field names must
// match exactly (letter case included), once each; unknown fields are
// rejected, so a message from an incompatible producer fails loudly.
func DecodeTask(data []byte) (Task, error) {
	if len(data) > MaxTaskBytes {
		return Task{}, fmt.Errorf("%w: message is %d bytes (at most %d)", ErrInvalidTask, len(data), MaxTaskBytes)
	}
	var t Task
	if err := strictjson.Decode(data, &t); err != nil {
		return Task{}, fmt.Errorf("%w: %v", ErrInvalidTask, err)
	}
	return t, t.Validate()
}
