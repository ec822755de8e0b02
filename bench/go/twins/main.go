// Go's twins of the bench_sync cases that go_micro lacks
// (bench/bench_sync.c), with go_micro's measure loop and output format:
//   - select_default_send_drained_pace<N>: go_micro's
//     select_default_send_drained with a receiver that does N xorshift
//     steps of work per value, so that the receiver's work, not the
//     runtime, sets how fast values leave the channel;
//   - mutex_contended_procs: one goroutine per P (GOMAXPROCS of them),
//     each locking and unlocking one sync.Mutex around an increment.
package main

import (
	"flag"
	"fmt"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var (
	benchTime    = flag.Duration("benchtime", 300*time.Millisecond, "target duration of the measured run of each case")
	runRe        = flag.String("run", ".", "only run cases whose name matches this regexp")
	benchLines   []string
	lastSentFrac float64
	paceSink     uint64
)

func measure(f func(n int)) (nsPerOp float64, n int) {
	n = 1
	for {
		runtime.GC()
		start := time.Now()
		f(n)
		d := time.Since(start)
		if d >= *benchTime || n >= 1<<30 {
			return float64(d.Nanoseconds()) / float64(n), n
		}
		next := int(1.2 * float64(n) * float64(*benchTime) / float64(d+1))
		if next > 100*n {
			next = 100 * n
		}
		if next < 2*n {
			next = 2 * n
		}
		n = next
	}
}

func selectDefaultDrainedPaced(pace int) func(n int) {
	return func(n int) {
		ch := make(chan int, 1024)
		done := make(chan struct{})
		go func() {
			x := uint64(88172645463325252)
			for v := range ch {
				x ^= uint64(v)
				for k := 0; k < pace; k++ {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
				}
			}
			atomic.StoreUint64(&paceSink, x)
			close(done)
		}()
		sent := 0
		for i := 0; i < n; i++ {
			select {
			case ch <- i:
				sent++
			default:
			}
		}
		close(ch)
		<-done
		lastSentFrac = float64(sent) / float64(n)
	}
}

var contendedCounter int

var uncontendedMu sync.Mutex

// One goroutine alone on a mutex: the fast paths.
func mutexUncontended(n int) {
	for i := 0; i < n; i++ {
		uncontendedMu.Lock()
		contendedCounter++
		uncontendedMu.Unlock()
	}
}

func mutexContendedProcs(n int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	procs := runtime.GOMAXPROCS(0)
	per := (n + procs - 1) / procs
	for g := 0; g < procs; g++ {
		wg.Add(1)
		go func() {
			for i := 0; i < per; i++ {
				mu.Lock()
				contendedCounter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
}

func main() {
	flag.Parse()
	re := regexp.MustCompile(*runRe)
	fmt.Printf("go_twins: GOMAXPROCS=%d benchtime=%v\n", runtime.GOMAXPROCS(0), *benchTime)
	for _, pace := range []int{10, 50} {
		name := fmt.Sprintf("select_default_send_drained_pace%d", pace)
		if !re.MatchString(name) {
			continue
		}
		ns, n := measure(selectDefaultDrainedPaced(pace))
		fmt.Printf("%-34s %12.1f ns/op  (n=%d)\n", name, ns, n)
		fmt.Printf("%-34s %12.1f %% of sends succeeded (last run)\n", "", 100*lastSentFrac)
		benchLines = append(benchLines, fmt.Sprintf("bench: %s %.1f ns", name, ns),
			fmt.Sprintf("bench: %s_sent %.1f %%", name, 100*lastSentFrac))
	}
	if re.MatchString("mutex_uncontended") {
		ns, n := measure(mutexUncontended)
		fmt.Printf("%-34s %12.1f ns/op  (n=%d) per lock+unlock, one goroutine\n", "mutex_uncontended", ns, n)
		benchLines = append(benchLines, fmt.Sprintf("bench: mutex_uncontended %.1f ns", ns))
	}
	if re.MatchString("mutex_contended_procs") {
		ns, n := measure(mutexContendedProcs)
		fmt.Printf("%-34s %12.1f ns/op  (n=%d) per lock+unlock, one goroutine per P\n", "mutex_contended_procs", ns, n)
		benchLines = append(benchLines, fmt.Sprintf("bench: mutex_contended_procs %.1f ns", ns))
	}
	fmt.Println()
	for _, l := range benchLines {
		fmt.Println(l)
	}
}
