package testmodel

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the CPU time (user + system) the process has used so far,
// every thread included (ONNX Runtime's too).
func CPUTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPU reports texts per CPU-second used since start (a CPUTime
// reading): how much of the machine the work took, which on a shared
// machine varies less than texts per second of wall time.
func ReportCPU(b *testing.B, texts int, start time.Duration) {
	b.ReportMetric(float64(texts)/(CPUTime(b)-start).Seconds(), "texts/cpu-s")
}
