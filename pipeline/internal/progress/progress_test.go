package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		s    Stats
		want []string
	}{
		{"half", Stats{Done: 50, Total: 100, Elapsed: 10 * time.Second, Rate: 5, ETA: 10 * time.Second, HasETA: true},
			[]string{"[============>           ]", " 50.0% 50/100 steps", "5.00/s", "ETA 10s", "elapsed 10s", "loss 2"}},
		{"unknown total", Stats{Done: 12345, Elapsed: 90 * time.Second, Rate: 137.2},
			[]string{"12345 steps", "137/s", "elapsed 1m30s"}},
		{"long", Stats{Done: 1, Total: 4, Elapsed: time.Hour, Rate: 1.0 / 3600, ETA: 3 * time.Hour, HasETA: true},
			[]string{"ETA 3h00m00s", "elapsed 1h00m00s"}},
	}
	for _, tt := range tests {
		got := Line("train", "steps", "loss 2", tt.s)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
	}
}

func TestTerminalRedraw(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{now: time.Unix(0, 0)}
	b := New("read", 10, WithWriter(&buf), WithTTY(true), WithClock(c.Now), WithUnit("papers"))
	c.Advance(time.Second)
	b.Add(5)
	c.Advance(time.Second)
	b.Add(5)
	b.Finish()
	b.Finish() // harmless
	out := buf.String()
	if n := strings.Count(out, "\r"); n != 4 { // start, two adds, finish
		t.Errorf("%d redraws, want 4: %q", n, out)
	}
	if !strings.HasSuffix(out, "\n") || !strings.Contains(out, "100.0% 10/10 papers") || !strings.Contains(out, "5.00/s") {
		t.Errorf("final line: %q", out)
	}
}

func TestLogMode(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c := &clock{now: time.Unix(0, 0)}
	b := New("train", 100, WithTTY(false), WithLogger(log), WithClock(c.Now), WithInterval(10*time.Second))
	for range 10 {
		c.Advance(2 * time.Second)
		b.Add(5) // a line every 10s: at 10s and 20s
	}
	b.Note("loss %.1f", 1.5)
	b.Finish()
	out := buf.String()
	if n := strings.Count(out, "msg=progress"); n != 2 {
		t.Errorf("%d progress lines, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "msg=done") || !strings.Contains(out, "done=50") || !strings.Contains(out, `note="loss 1.5"`) || !strings.Contains(out, "eta=") {
		t.Errorf("log:\n%s", out)
	}
}

func TestConcurrentAdd(t *testing.T) {
	var buf bytes.Buffer
	b := New("x", 4000, WithWriter(&buf), WithTTY(true), WithInterval(time.Nanosecond))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				b.Add(1)
			}
		})
	}
	wg.Wait()
	b.Finish()
	if !strings.Contains(buf.String(), "4000/4000") {
		t.Errorf("final count missing: %q", buf.String()[max(0, buf.Len()-200):])
	}
}
