// Go baselines for goro's comparisons (benches/spawn.rs, yield.rs, rss_parked.rs,
// chan.rs, mutex.rs, echo.rs, lateness.rs, balance.rs). Same shapes as the Rust
// contestants:
//
//	serve spawn   answer "<iters> <batch>" lines on stdin with the nanoseconds taken by
//	              iters batches of `batch` goroutines (go func(){ wg.Done() }()), spawned
//	              from inside a goroutine and all waited for. Run with GOMAXPROCS=2.
//	serve yield   answer "<iters> <batch>" with the nanoseconds of iters runtime.Gosched()
//	              calls in one goroutine. Run with GOMAXPROCS=1.
//	serve pingpong  "<iters> _": iters round trips over two unbuffered channels between
//	              two goroutines; nanoseconds.
//	serve ring    "<iters> _": a ring of 503 goroutines linked by unbuffered channels
//	              (built once, at start) passes a token iters hops; nanoseconds.
//	serve mpmc    "<iters> <batch>": 4 producers each send iters*batch ints on one
//	              make(chan int, 128), 4 consumers drain it; nanoseconds.
//	serve mutex   "<iters> <batch>": 100 goroutines each do iters*batch
//	              Lock/increment/Unlock on one sync.Mutex; nanoseconds.
//	serve echo    "<iters> <trips>": 64 TCP connections over loopback (TCP_NODELAY),
//	              a server goroutine per connection echoing, a client goroutine per
//	              connection doing iters*trips round trips of 64 bytes; nanoseconds.
//	spawn N       one-shot: N goroutines spawned + waited for, once cold and 5 more times;
//	              prints ns/goroutine.
//	yield N       one-shot: N Gosched calls; prints ns/call.
//	balance SHAPE N  one run of benches/balance.rs's shape (fanout: N goroutines spawned
//	              and waited for, as spawn; echo: N round trips per connection; ring: N
//	              hops; pingpong: N round trips): prints "ready <threads>" once the
//	              ring is built, warms up at N/10, prints "start", runs N and prints
//	              "ns <nanoseconds>".
//	rss N         N goroutines each parked on a receive from one shared channel; prints
//	              "parked=N rss_before=B rss_after=B release_ms=MS" (RSS from
//	              /proc/self/statm), then closes the channel and waits for all.
//
// (echo is benches/echo.rs's shape.)
//
// benches/go/run.sh runs the one-shots; the Rust benches build this file themselves
// (into target/go-bench) and talk to `serve`.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func spawnBatches(iters, batch int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < iters; i++ {
			wg.Add(batch)
			for j := 0; j < batch; j++ {
				go func() { wg.Done() }()
			}
			wg.Wait()
		}
		done <- time.Since(start)
	}()
	return <-done
}

func yields(iters int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		for i := 0; i < iters; i++ {
			runtime.Gosched()
		}
		done <- time.Since(start)
	}()
	return <-done
}

func pingpong(iters int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
		}()
		start := time.Now()
		for i := 0; i < iters; i++ {
			ping <- i
			<-pong
		}
		d := time.Since(start)
		close(ping)
		done <- d
	}()
	return <-done
}

// RingSize is the thread-ring size of the benchmarks game.
const RingSize = 503

type ring struct {
	head chan int
	done chan struct{}
}

func newRing() ring {
	r := ring{head: make(chan int), done: make(chan struct{})}
	in := r.head
	for i := 0; i < RingSize; i++ {
		out := r.head
		if i < RingSize-1 {
			out = make(chan int)
		}
		go func(in, out chan int) {
			for t := range in {
				if t == 0 {
					r.done <- struct{}{}
				} else {
					out <- t - 1
				}
			}
		}(in, out)
		in = out
	}
	return r
}

func (r ring) hops(iters int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		r.head <- iters
		<-r.done
		done <- time.Since(start)
	}()
	return <-done
}

func mpmc(perProducer int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		ch := make(chan int, 128)
		var producers, consumers sync.WaitGroup
		var total int64
		var mu sync.Mutex
		for p := 0; p < 4; p++ {
			producers.Add(1)
			go func() {
				for i := 0; i < perProducer; i++ {
					ch <- i
				}
				producers.Done()
			}()
		}
		for c := 0; c < 4; c++ {
			consumers.Add(1)
			go func() {
				n := int64(0)
				for range ch {
					n++
				}
				mu.Lock()
				total += n
				mu.Unlock()
				consumers.Done()
			}()
		}
		producers.Wait()
		close(ch)
		consumers.Wait()
		d := time.Since(start)
		if total != int64(4*perProducer) {
			panic("mpmc: lost or duplicated messages")
		}
		done <- d
	}()
	return <-done
}

func mutex(perGoroutine int) time.Duration {
	done := make(chan time.Duration)
	go func() {
		var mu sync.Mutex
		counter := 0
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < 100; g++ {
			wg.Add(1)
			go func() {
				for i := 0; i < perGoroutine; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		d := time.Since(start)
		if counter != 100*perGoroutine {
			panic("mutex: wrong count")
		}
		done <- d
	}()
	return <-done
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * 4096
}

func rss(n int) {
	// Warm up the runtime (threads, scheduler) before the baseline.
	spawnBatches(1, 1000)
	runtime.GC()
	before := rssBytes()
	ch := make(chan struct{})
	var parked, finished sync.WaitGroup
	parked.Add(n)
	finished.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-ch
			finished.Done()
		}()
	}
	parked.Wait()
	time.Sleep(200 * time.Millisecond) // let the last ones reach the receive
	after := rssBytes()
	start := time.Now()
	close(ch)
	finished.Wait()
	fmt.Printf("parked=%d rss_before=%d rss_after=%d release_ms=%.1f\n",
		n, before, after, float64(time.Since(start).Microseconds())/1000)
}

func serve(what string) {
	var r ring
	if what == "ring" {
		r = newRing()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		iters, _ := strconv.Atoi(f[0])
		batch := 0
		if len(f) > 1 {
			batch, _ = strconv.Atoi(f[1])
		}
		var d time.Duration
		switch what {
		case "spawn":
			d = spawnBatches(iters, batch)
		case "yield":
			d = yields(iters)
		case "pingpong":
			d = pingpong(iters)
		case "ring":
			d = r.hops(iters)
		case "mpmc":
			d = mpmc(iters * batch)
		case "mutex":
			d = mutex(iters * batch)
		case "echo":
			d = echo(iters * batch)
		case "lateness":
			d = lateness()
		default:
			panic("serve spawn|yield|pingpong|ring|mpmc|mutex|echo|lateness")
		}
		fmt.Println(d.Nanoseconds())
	}
}

func oneShot(what string, n int) {
	var runs []float64
	for i := 0; i < 6; i++ {
		var d time.Duration
		if what == "spawn" {
			d = spawnBatches(1, n)
		} else {
			d = yields(n)
		}
		runs = append(runs, float64(d.Nanoseconds())/float64(n))
	}
	warm := append([]float64(nil), runs[1:]...)
	sort.Float64s(warm)
	fmt.Printf("go %s n=%d GOMAXPROCS=%d: cold %.1f ns, warm median %.1f ns (runs %v)\n",
		what, n, runtime.GOMAXPROCS(0), runs[0], warm[len(warm)/2], runs)
}

// balance: one fresh-process run of benches/balance.rs's shape `what`, size n.
func balance(what string, n int) {
	var run func(n int) time.Duration
	switch what {
	case "fanout":
		run = func(n int) time.Duration { return spawnBatches(1, n) }
	case "echo":
		run = echo
	case "ring":
		run = newRing().hops
	case "pingpong":
		run = pingpong
	default:
		panic("balance fanout|echo|ring|pingpong N")
	}
	threads, err := os.ReadDir("/proc/self/task")
	if err != nil {
		panic(err)
	}
	fmt.Println("ready", len(threads))
	warm := n / 10
	if warm < 1 {
		warm = 1
	}
	run(warm)
	fmt.Println("start")
	d := run(n)
	fmt.Printf("ns %d\n", d.Nanoseconds())
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: main serve spawn|yield|pingpong|ring|mpmc|mutex|echo|lateness | spawn N | yield N | rss N | balance fanout|echo|ring|pingpong N")
		os.Exit(2)
	}
	if os.Args[1] == "serve" {
		serve(os.Args[2])
		return
	}
	if os.Args[1] == "balance" && len(os.Args) == 4 {
		n, err := strconv.Atoi(os.Args[3])
		if err != nil {
			panic(err)
		}
		balance(os.Args[2], n)
		return
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		panic(err)
	}
	switch os.Args[1] {
	case "spawn", "yield":
		oneShot(os.Args[1], n)
	case "rss":
		rss(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func echo(trips int) time.Duration {
	const conns, size = 64, 64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	start := time.Now()
	var servers sync.WaitGroup
	servers.Add(conns)
	go func() {
		for i := 0; i < conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				panic(err)
			}
			c.(*net.TCPConn).SetNoDelay(true)
			go func(c net.Conn) {
				defer servers.Done()
				defer c.Close()
				buf := make([]byte, size)
				for t := 0; t < trips; t++ {
					if _, err := io.ReadFull(c, buf); err != nil {
						panic(err)
					}
					if _, err := c.Write(buf); err != nil {
						panic(err)
					}
				}
			}(c)
		}
	}()
	var clients sync.WaitGroup
	clients.Add(conns)
	for i := 0; i < conns; i++ {
		go func(i int) {
			defer clients.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				panic(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetNoDelay(true)
			sent := bytes.Repeat([]byte{byte(i)}, size)
			got := make([]byte, size)
			for t := 0; t < trips; t++ {
				if _, err := c.Write(sent); err != nil {
					panic(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					panic(err)
				}
			}
			if !bytes.Equal(sent, got) {
				panic("echo: the reply differs")
			}
		}(i)
	}
	clients.Wait()
	servers.Wait()
	return time.Since(start)
}

// lateness: 200 goroutines sleep 1 ms in a loop; after 50 ms, 4 goroutines each make
// one blocking system call of 300 ms (nanosleep, which Go's scheduler cannot park:
// sysmon hands the blocked thread's P to another thread); 50 ms after they return, the
// sleepers stop. Returns the worst lateness (time asleep beyond 1 ms) of any sleeper.
func lateness() time.Duration {
	const sleepers, blockers = 200, 4
	var stop int32
	var worst int64
	var wg sync.WaitGroup
	for i := 0; i < sleepers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine int64
			for atomic.LoadInt32(&stop) == 0 {
				t := time.Now()
				time.Sleep(time.Millisecond)
				if late := int64(time.Since(t) - time.Millisecond); late > mine {
					mine = late
				}
			}
			for {
				old := atomic.LoadInt64(&worst)
				if mine <= old || atomic.CompareAndSwapInt64(&worst, old, mine) {
					break
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	var bl sync.WaitGroup
	for i := 0; i < blockers; i++ {
		bl.Add(1)
		go func() {
			defer bl.Done()
			ts := syscall.Timespec{Sec: 0, Nsec: 300e6}
			syscall.Nanosleep(&ts, nil)
		}()
	}
	bl.Wait()
	time.Sleep(50 * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	return time.Duration(worst)
}
