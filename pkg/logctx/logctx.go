// Package logctx carries log attributes in a context, so that every line
// logged for one unit of work (a planner run, a copy task) carries its ids —
// including lines logged deep inside the copy engine or the credential
// provider, which only see the context.
package logctx

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

type key struct{}

// With returns a context whose log lines also carry args (key-value pairs
// or slog.Attr, as for slog.Logger.With). Later values of a key replace
// earlier ones.
func With(ctx context.Context, args ...any) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	attrs := slices.Clone(prev)
	r := slog.NewRecord(time.Time{}, 0, "", 0)
	r.Add(args...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = slices.DeleteFunc(attrs, func(b slog.Attr) bool { return b.Key == a.Key })
		attrs = append(attrs, a)
		return true
	})
	return context.WithValue(ctx, key{}, attrs)
}

// Attrs returns the attributes With put in ctx.
func Attrs(ctx context.Context) []slog.Attr {
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

// Handler adds the context's attributes to every record h handles (those
// logged with the ...Context methods), except keys the record or the
// logger's With already has. Wrapping a Handler again returns it as is.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(*handler); ok {
		return h
	}
	return &handler{next: h}
}

type handler struct {
	next slog.Handler
	keys []string // top-level keys added with WithAttrs
	grp  bool     // a group is open: context attributes would land inside it
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 && !h.grp {
		have := slices.Clone(h.keys)
		r.Attrs(func(a slog.Attr) bool { have = append(have, a.Key); return true })
		for _, a := range attrs {
			if !slices.Contains(have, a.Key) {
				r.AddAttrs(a)
			}
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	keys := slices.Clone(h.keys)
	if !h.grp {
		for _, a := range attrs {
			keys = append(keys, a.Key)
		}
	}
	return &handler{next: h.next.WithAttrs(attrs), keys: keys, grp: h.grp}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{next: h.next.WithGroup(name), keys: h.keys, grp: true}
}
