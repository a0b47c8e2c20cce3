//go:build unix

package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashEnv names the store file for the helper process of TestDurabilityAfterKill.
const crashEnv = "STORE_TEST_CRASH_HELPER_PATH"

// crashStep is step k of the helper's deterministic write schedule, one
// write transaction each: two of three steps upsert four new papers and
// replace the vector of an older one; the third deletes an older paper.
func crashStep(k int) (upserts []Paper, deletes []string) {
	if k%3 == 2 {
		return nil, []string{crashPaper(k-2, 1, 0).ID}
	}
	for j := range 4 {
		upserts = append(upserts, crashPaper(k, j, 0))
	}
	if k >= 3 {
		upserts = append(upserts, crashPaper(k-3, 0, k))
	}
	return upserts, nil
}

func crashPaper(step, j, gen int) Paper {
	n := step*4 + j
	p := testPaper(n, gen)
	p.ID = fmt.Sprintf("crash-%d", n)
	return p
}

// crashState is the id -> vector state after the first n steps.
func crashState(n int) map[string][]float32 {
	state := make(map[string][]float32)
	for k := range n {
		ups, dels := crashStep(k)
		for _, p := range ups {
			state[p.ID] = p.Vector
		}
		for _, id := range dels {
			delete(state, id)
		}
	}
	return state
}

// TestCrashHelper is not a test: TestDurabilityAfterKill runs the test binary
// again with only this function selected and crashEnv set. It writes the
// schedule forever and prints "ACK k" once step k returned, i.e. once the
// store acknowledged it, until it is killed.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process of TestDurabilityAfterKill")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Model: testModel, Dim: testDim})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for k := 0; ; k++ {
		ups, dels := crashStep(k)
		if ups != nil {
			_, err = s.Upsert(ctx, ups)
		} else {
			_, _, err = s.Delete(ctx, dels)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "step %d: %v\n", k, err)
			os.Exit(2)
		}
		// One write(2) per line, unbuffered: what the parent reads was
		// acknowledged.
		if _, err := os.Stdout.WriteString("ACK " + strconv.Itoa(k) + "\n"); err != nil {
			os.Exit(3)
		}
	}
}

// TestDurabilityAfterKill kills a writing process with SIGKILL at arbitrary
// points and checks that the reopened store holds every acknowledged write,
// and otherwise at most the one transaction in flight, whole.
func TestDurabilityAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses")
	}
	for round, killAfter := range []int{3, 25, 60} {
		t.Run(fmt.Sprint("kill after ", killAfter), func(t *testing.T) {
			path := testPath(t)
			acked := runAndKill(t, path, killAfter, time.Duration(round)*time.Millisecond)
			if acked < killAfter {
				t.Fatalf("only %d steps acknowledged", acked)
			}

			s := openTest(t, path)
			got := make(map[string][]float32)
			for id, p := range allPapers(t, s) {
				got[id] = p.Vector
			}
			v, err := s.Version(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case maps.EqualFunc(got, crashState(acked), slices.Equal[[]float32]):
				if v != int64(acked) {
					t.Errorf("version %d after %d acknowledged steps", v, acked)
				}
			case maps.EqualFunc(got, crashState(acked+1), slices.Equal[[]float32]):
				// The step in flight at the kill committed but was not
				// acknowledged yet: allowed, since it is whole.
				if v != int64(acked+1) {
					t.Errorf("version %d after %d+1 steps", v, acked)
				}
			default:
				for id, vec := range crashState(acked) {
					if g, ok := got[id]; !ok || !slices.Equal(g, vec) {
						t.Errorf("acknowledged paper %s: stored %v, want %v", id, g, vec)
					}
				}
				t.Fatalf("store after %d acknowledged steps matches neither %d nor %d steps", acked, acked, acked+1)
			}
			mustCheck(t, s)
			crashFTSAgrees(t, s)
			t.Logf("%d steps acknowledged, store at version %d", acked, v)
		})
	}
}

// crashFTSAgrees checks that, after a kill, the lexical index and the
// vectors agree on the set of papers: a word of every title, searched with
// k above the store's size, finds exactly the stored papers, by the keys
// of the vectors a rebuilt ANN index would hold. (mustCheck has compared
// the index's text with the rows; a search per paper would cost seconds
// under the race detector.)
func crashFTSAgrees(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	var vectorKeys, storedKeys, foundKeys []int64
	if _, err := s.ScanVectors(ctx, func(key int64, _ []float32) error {
		vectorKeys = append(vectorKeys, key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range allPapers(t, s) {
		storedKeys = append(storedKeys, p.Key)
	}
	hits, err := s.SearchLexical(ctx, "sparse", MaxLexicalK, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == MaxLexicalK {
		t.Fatalf("%d hits: the test needs fewer papers", len(hits))
	}
	for _, h := range hits {
		foundKeys = append(foundKeys, h.Key)
	}
	slices.Sort(storedKeys)
	slices.Sort(foundKeys)
	if !slices.Equal(foundKeys, vectorKeys) || !slices.Equal(storedKeys, vectorKeys) {
		t.Errorf("keys found lexically %v, keys of the stored vectors %v, of the stored papers %v", foundKeys, vectorKeys, storedKeys)
	}
}

// runAndKill runs the helper on path, SIGKILLs it once it acknowledged
// killAfter steps and a further delay passed, and returns how many steps it
// acknowledged in all.
func runAndKill(t *testing.T, path string, killAfter int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()

	acked := 0
	killed := false
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// EOF; a final fragment without '\n' was not a whole ack.
			if !errors.Is(err, io.EOF) {
				t.Errorf("reading helper output: %v", err)
			}
			break
		}
		rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ACK ")
		if !ok {
			continue // test framework output
		}
		k, err := strconv.Atoi(rest)
		if err != nil || k != acked {
			t.Fatalf("helper printed %q after %d acks", line, acked)
		}
		acked++
		if acked == killAfter && !killed {
			killed = true
			time.Sleep(delay)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, not by SIGKILL; stderr:\n%s", err, stderr.String())
	}
	return acked
}
