// Go's twin of bench_sync's select_default_send_drained_pace<N> cases
// (bench/bench_sync.c): go_micro's select_default_send_drained, with a
// receiver that does N xorshift steps of work per value, so that the
// receiver's work, not the runtime, sets how fast values leave the
// channel.  Same measure loop and output format as go_micro.
package main

import (
	"flag"
	"fmt"
	"regexp"
	"runtime"
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

func main() {
	flag.Parse()
	re := regexp.MustCompile(*runRe)
	fmt.Printf("go_paced: GOMAXPROCS=%d benchtime=%v\n", runtime.GOMAXPROCS(0), *benchTime)
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
	fmt.Println()
	for _, l := range benchLines {
		fmt.Println(l)
	}
}
