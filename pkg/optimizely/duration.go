package optimizely

import (
	"fmt"
	"strconv"
	"time"
)

// Bounds of the duration query parameter, and its default.
const (
	MinDuration     = 15 * time.Minute
	MaxDuration     = time.Hour
	DefaultDuration = time.Hour
)

const durationRule = "want whole minutes or hours from 15m to 1h, e.g. 15m, 45m, 1h"

// ParseDuration parses the lifetime of export credentials as the
// Authentication API's duration parameter spells it: a whole number of
// minutes or hours with the unit m, M, h or H ("15m", "45M", "1h", "60m"),
// between 15 minutes and 1 hour inclusive. Nothing else is accepted: no
// white space, signs, fractions, seconds or compound values.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("invalid duration %q: empty (%s)", s, durationRule)
	}
	num, unit := s[:len(s)-1], s[len(s)-1]
	var scale time.Duration
	switch unit {
	case 'm', 'M':
		scale = time.Minute
	case 'h', 'H':
		scale = time.Hour
	default:
		return 0, fmt.Errorf("invalid duration %q: unit must be m or h (%s)", s, durationRule)
	}
	if num == "" || len(num) > 4 {
		return 0, fmt.Errorf("invalid duration %q: %s", s, durationRule)
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationRule)
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %s", s, durationRule)
	}
	d := time.Duration(n) * scale
	if d < MinDuration || d > MaxDuration {
		return 0, fmt.Errorf("invalid duration %q: out of range (%s)", s, durationRule)
	}
	return d, nil
}

// FormatDuration returns d in the form the duration query parameter takes:
// "1h" for whole hours, otherwise whole minutes ("45m"). Any part of d below
// a minute is dropped. It does not check the range.
func FormatDuration(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
}

// validDuration reports whether d is one the API accepts.
func validDuration(d time.Duration) error {
	if d < MinDuration || d > MaxDuration || d%time.Minute != 0 {
		return fmt.Errorf("invalid duration %s: %s", d, durationRule)
	}
	return nil
}
