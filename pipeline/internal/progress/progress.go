// Package progress reports the progress of long steps: on a terminal one
// line redrawn in place with a bar, rate and ETA; otherwise (logs, CI) a
// structured log line at a fixed interval and one when the step ends.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bar tracks one step. Add is safe for concurrent use; the counter is
// atomic and drawing is rate limited, so callers may call it per item.
type Bar struct {
	name  string
	unit  string
	total int64
	done  atomic.Int64

	mu       sync.Mutex
	w        io.Writer
	tty      bool
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time
	start    time.Time
	last     time.Time
	note     string
	finished bool
	lastLen  int
}

// Option configures a Bar.
type Option func(*Bar)

// WithUnit names what is counted ("papers", "steps"; default "items").
func WithUnit(unit string) Option { return func(b *Bar) { b.unit = unit } }

// WithWriter draws on w instead of standard error; whether it is a
// terminal is detected from w when it is an *os.File.
func WithWriter(w io.Writer) Option {
	return func(b *Bar) { b.w, b.tty = w, isTerminal(w) }
}

// WithTTY forces terminal (redrawn line) or log mode.
func WithTTY(tty bool) Option { return func(b *Bar) { b.tty = tty } }

// WithLogger sets the logger of log mode (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *Bar) { b.log = l } }

// WithInterval sets how often log mode writes a line (default 10s) and
// terminal mode redraws (default 100ms).
func WithInterval(d time.Duration) Option { return func(b *Bar) { b.interval = d } }

// WithClock replaces time.Now (for tests).
func WithClock(now func() time.Time) Option { return func(b *Bar) { b.now = now } }

// New starts a bar for a step of total items; total <= 0 means unknown
// (the bar then shows the count and rate, without percentage or ETA).
func New(name string, total int64, opts ...Option) *Bar {
	b := &Bar{name: name, unit: "items", total: total, w: os.Stderr, now: time.Now}
	b.tty = isTerminal(b.w)
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.interval == 0 {
		b.interval = 10 * time.Second
		if b.tty {
			b.interval = 100 * time.Millisecond
		}
	}
	b.start = b.now()
	b.last = b.start
	if b.tty {
		b.mu.Lock()
		b.draw(b.start)
		b.mu.Unlock()
	}
	return b
}

// Add counts n more items done.
func (b *Bar) Add(n int64) {
	b.done.Add(n)
	b.maybeDraw()
}

// Note sets a short free-form status shown after the rate ("loss 2.31").
func (b *Bar) Note(format string, args ...any) {
	b.mu.Lock()
	b.note = fmt.Sprintf(format, args...)
	b.mu.Unlock()
}

// Finish ends the step: the final state is drawn (terminal) or logged.
// Calling it twice is harmless.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	now := b.now()
	if b.tty {
		b.draw(now)
		fmt.Fprintln(b.w)
		return
	}
	b.logLine(now, true)
}

func (b *Bar) maybeDraw() {
	now := b.now()
	if !b.mu.TryLock() {
		return // another goroutine is drawing; the next Add will catch up
	}
	defer b.mu.Unlock()
	if b.finished || now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	if b.tty {
		b.draw(now)
		return
	}
	b.logLine(now, false)
}

// Stats is what a line shows; exported for tests of the formatting.
type Stats struct {
	Done, Total int64
	Elapsed     time.Duration
	Rate        float64 // items per second
	ETA         time.Duration
	HasETA      bool
}

func (b *Bar) stats(now time.Time) Stats {
	s := Stats{Done: b.done.Load(), Total: b.total, Elapsed: now.Sub(b.start)}
	if sec := s.Elapsed.Seconds(); sec > 0 {
		s.Rate = float64(s.Done) / sec
	}
	if s.Total > 0 && s.Rate > 0 && s.Done <= s.Total {
		s.ETA = time.Duration(float64(s.Total-s.Done) / s.Rate * float64(time.Second))
		s.HasETA = true
	}
	return s
}

const barWidth = 24

// Line formats the terminal line for s.
func Line(name, unit, note string, s Stats) string {
	var sb strings.Builder
	sb.WriteString(name)
	sb.WriteString(" ")
	if s.Total > 0 {
		frac := min(float64(s.Done)/float64(s.Total), 1)
		fill := int(frac * barWidth)
		sb.WriteString("[")
		sb.WriteString(strings.Repeat("=", fill))
		if fill < barWidth {
			sb.WriteString(">")
			sb.WriteString(strings.Repeat(" ", barWidth-fill-1))
		}
		fmt.Fprintf(&sb, "] %5.1f%% %d/%d %s", 100*frac, s.Done, s.Total, unit)
	} else {
		fmt.Fprintf(&sb, "%d %s", s.Done, unit)
	}
	fmt.Fprintf(&sb, "  %s/s", formatRate(s.Rate))
	if s.HasETA {
		fmt.Fprintf(&sb, "  ETA %s", formatDuration(s.ETA))
	}
	fmt.Fprintf(&sb, "  elapsed %s", formatDuration(s.Elapsed))
	if note != "" {
		sb.WriteString("  ")
		sb.WriteString(note)
	}
	return sb.String()
}

func (b *Bar) draw(now time.Time) {
	line := Line(b.name, b.unit, b.note, b.stats(now))
	pad := ""
	if n := b.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	b.lastLen = len(line)
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
}

func (b *Bar) logLine(now time.Time, final bool) {
	s := b.stats(now)
	attrs := []any{"step", b.name, "done", s.Done, "unit", b.unit,
		"rate_per_s", roundRate(s.Rate), "elapsed", s.Elapsed.Round(time.Millisecond).String()}
	if s.Total > 0 {
		attrs = append(attrs, "total", s.Total, "pct", fmt.Sprintf("%.1f", 100*float64(s.Done)/float64(s.Total)))
	}
	if s.HasETA && !final {
		attrs = append(attrs, "eta", s.ETA.Round(time.Second).String())
	}
	if b.note != "" {
		attrs = append(attrs, "note", b.note)
	}
	msg := "progress"
	if final {
		msg = "done"
	}
	b.log.Info(msg, attrs...)
}

func roundRate(r float64) float64 {
	switch {
	case r >= 100:
		return float64(int64(r + 0.5))
	default:
		return float64(int64(r*100+0.5)) / 100
	}
}

func formatRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	default:
		return fmt.Sprintf("%.2f", r)
	}
}

func formatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	if m > 0 {
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// Reader counts bytes read through it into a bar (for reading a file of
// known size whose records are not counted in advance).
type Reader struct {
	R   io.Reader
	Bar *Bar
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	if n > 0 {
		r.Bar.Add(int64(n))
	}
	return n, err
}
