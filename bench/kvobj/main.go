// kvobj is the client of bench/kvobj_bench.sh: it drives one KV or object-store scenario against
// a server that the script started, validates what it read back, and prints one line per timed
// phase:
//
//	RESULT <phase> <ops> <bytes> <seconds> <server_cpu_s> <client_cpu_s>
//
// server_cpu_s is utime+stime of -pid (from /proc/<pid>/stat, 10 ms ticks) over the timed phase
// only; client_cpu_s is this process's own user+system time over the same phase. Any failed
// check, error, deadline or lost connection exits with status 1 and a message on stderr.
//
// Modes (each expects a fresh server):
//
//	kv     create bucket (file, history 1), -keys sync kv.Put of -size bytes ("kvput"), then
//	       -keys kv.Get checking every value ("kvget")
//	watch  fill a bucket with -keys keys (untimed, async publishes to $KV.<bucket>.<key>), then
//	       time kv.WatchAll until the nil marker ("watch_initial"), checking every key and value
//	live   empty bucket, kv.WatchAll on one connection, -keys distinct keys published from a
//	       second connection (async publishes, window -window); time from the first publish to
//	       the watcher's last entry ("watch_live"), checking every key, value and revision order
//	obj    object store (file, default chunk size 128 KiB), put one object of -objsize random
//	       bytes ("objput"), then get it back ("objget") and compare its SHA-256
//	push   stream "benchpush" (file) filled with -keys messages of -size bytes (untimed), then a
//	       durable push consumer (deliver subject, explicit acks, nats.go's js.Subscribe /
//	       js.QueueSubscribe with -members subscribers in one deliver group) read whole, every
//	       message acked in the callback ("push"); checks that every sequence arrived exactly once
//	       and that the consumer's ack floor reaches the end
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	url     = flag.String("url", nats.DefaultURL, "server URL")
	mode    = flag.String("mode", "", "kv | watch | live | obj | push")
	members = flag.Int("members", 1, "push subscribers (more than one: a deliver group)")
	pid     = flag.Int("pid", 0, "server pid whose CPU time is reported (0: none)")
	keys    = flag.Int("keys", 20000, "keys (kv, watch, live)")
	size    = flag.Int("size", 128, "value size in bytes (kv, watch, live)")
	window  = flag.Int("window", 1000, "max outstanding async publishes (watch fill, live)")
	objSize = flag.Int("objsize", 100<<20, "object size in bytes (obj)")
	stall   = flag.Duration("stallwait", 0, "nats.go async publish stall wait (0: its default, 200 ms)")
	timeout = flag.Duration("timeout", 120*time.Second, "deadline for the whole scenario")
)

const bucket = "bench"

var (
	pubFailed atomic.Int64 // async publishes answered with an error or timed out
	// stop ends the scenario early (deadline, or a connection lost), with the reason as cause.
	stop context.CancelCauseFunc
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kvobj %s: %s\n", *mode, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// serverCPU returns utime+stime of the server in seconds (0 without -pid).
func serverCPU() float64 {
	if *pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", *pid))
	check(err, "read server stat")
	// Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func clientCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// phase measures wall time and server/client CPU of one timed section.
type phase struct {
	name     string
	start    time.Time
	srv, cli float64
}

func begin(name string) *phase {
	return &phase{name: name, srv: serverCPU(), cli: clientCPU(), start: time.Now()}
}

func (p *phase) end(ops, nbytes int) {
	secs := time.Since(p.start).Seconds()
	srv, cli := serverCPU()-p.srv, clientCPU()-p.cli
	fmt.Printf("RESULT %s %d %d %.6f %.2f %.2f\n", p.name, ops, nbytes, secs, srv, cli)
	fmt.Fprintf(os.Stderr, "  %-13s %8d ops %11.0f ops/s %8.1f MiB/s  server cpu %.2f s\n",
		p.name, ops, float64(ops)/secs, float64(nbytes)/secs/(1<<20), srv)
}

func keyName(i int) string { return fmt.Sprintf("k%07d", i) }

// value is the deterministic value of key i, so readers can check every byte.
func value(i int) []byte {
	v := bytes.Repeat([]byte{byte('a' + i%26)}, *size)
	copy(v, keyName(i))
	return v
}

func keyIndex(key string) int {
	if len(key) != 8 || key[0] != 'k' {
		return -1
	}
	i, err := strconv.Atoi(key[1:])
	if err != nil || i < 0 || i >= *keys {
		return -1
	}
	return i
}

func connect(name string) (*nats.Conn, jetstream.JetStream) {
	// Connection events go to stderr: a server that cuts the client shows up there, not as a hang.
	nc, err := nats.Connect(*url, nats.Name("kvobj "+name), nats.MaxReconnects(0),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil for our own Close
				fmt.Fprintf(os.Stderr, "kvobj %s: %s: disconnected: %v\n", *mode, name, err)
				stop(fmt.Errorf("%s: connection lost: %w", name, err))
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			fmt.Fprintf(os.Stderr, "kvobj %s: %s: async error: %v\n", *mode, name, err)
		}))
	check(err, "connect")
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(*window),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			if pubFailed.Add(1) == 1 {
				fmt.Fprintf(os.Stderr, "kvobj %s: async publish failed: %v\n", *mode, err)
			}
		}))
	check(err, "jetstream")
	return nc, js
}

func createBucket(ctx context.Context, js jetstream.JetStream) jetstream.KeyValue {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, History: 1, Storage: jetstream.FileStorage,
	})
	check(err, "create bucket")
	return kv
}

func expectValues(ctx context.Context, kv jetstream.KeyValue, want int) {
	st, err := kv.Status(ctx)
	check(err, "bucket status")
	if int(st.Values()) != want {
		fail("bucket holds %d values, expected %d", st.Values(), want)
	}
}

// publishKeys publishes value(i) to every key asynchronously and waits for all acks.
func publishKeys(ctx context.Context, js jetstream.JetStream) {
	var opts []jetstream.PublishOpt
	if *stall > 0 {
		opts = append(opts, jetstream.WithStallWait(*stall))
	}
	for i := 0; i < *keys; i++ {
		_, err := js.PublishAsync("$KV."+bucket+"."+keyName(i), value(i), opts...)
		check(err, "publish async")
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		fail("async publishes not acknowledged (%v): %d pending", context.Cause(ctx), js.PublishAsyncPending())
	}
	if n := pubFailed.Load(); n > 0 {
		fail("%d async publishes failed", n)
	}
}

func runKV(ctx context.Context) {
	nc, js := connect("kv")
	defer nc.Close()
	kv := createBucket(ctx, js)
	p := begin("kvput")
	for i := 0; i < *keys; i++ {
		rev, err := kv.Put(ctx, keyName(i), value(i))
		check(err, "kv put")
		if rev != uint64(i+1) {
			fail("put %d returned revision %d, expected %d", i, rev, i+1)
		}
	}
	p.end(*keys, *keys**size)
	expectValues(ctx, kv, *keys)

	p = begin("kvget")
	for i := 0; i < *keys; i++ {
		e, err := kv.Get(ctx, keyName(i))
		check(err, "kv get "+keyName(i))
		if !bytes.Equal(e.Value(), value(i)) || e.Revision() != uint64(i+1) {
			fail("get %s: revision %d, value %q", keyName(i), e.Revision(), e.Value())
		}
	}
	p.end(*keys, *keys**size)
}

// drain reads n entries from w and checks that each is a put of a distinct expected key with
// its expected value, in increasing revision order.
func drain(ctx context.Context, w jetstream.KeyWatcher, n int, what string) {
	seen := make([]bool, *keys)
	var lastRev uint64
	for got := 0; got < n; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				fail("%s: watcher closed after %d of %d entries", what, got, n)
			}
			if e == nil {
				fail("%s: nil marker after %d of %d entries", what, got, n)
			}
			i := keyIndex(e.Key())
			switch {
			case i < 0:
				fail("%s: unexpected key %q", what, e.Key())
			case seen[i]:
				fail("%s: key %s delivered twice", what, e.Key())
			case e.Revision() <= lastRev:
				fail("%s: revision %d after %d", what, e.Revision(), lastRev)
			case e.Operation() != jetstream.KeyValuePut || !bytes.Equal(e.Value(), value(i)):
				fail("%s: key %s op %v value %q", what, e.Key(), e.Operation(), e.Value())
			}
			seen[i], lastRev = true, e.Revision()
			got++
		case <-ctx.Done():
			fail("%s: %v after %d of %d entries", what, context.Cause(ctx), got, n)
		}
	}
}

func runWatch(ctx context.Context) {
	nc, js := connect("watch fill")
	defer nc.Close()
	kv := createBucket(ctx, js)
	publishKeys(ctx, js)
	expectValues(ctx, kv, *keys)

	wc, wjs := connect("watcher")
	defer wc.Close()
	wkv, err := wjs.KeyValue(ctx, bucket)
	check(err, "bind bucket")
	p := begin("watch_initial")
	w, err := wkv.WatchAll(ctx)
	check(err, "watch all")
	drain(ctx, w, *keys, "initial watch")
	select {
	case e := <-w.Updates():
		if e != nil {
			fail("initial watch: entry %q where the nil marker was expected", e.Key())
		}
	case <-ctx.Done():
		fail("initial watch: no nil marker (%v)", context.Cause(ctx))
	}
	p.end(*keys, *keys**size)
	check(w.Stop(), "stop watcher")
}

func runLive(ctx context.Context) {
	wc, wjs := connect("watcher")
	defer wc.Close()
	kv := createBucket(ctx, wjs)
	w, err := kv.WatchAll(ctx)
	check(err, "watch all")
	select {
	case e := <-w.Updates():
		if e != nil {
			fail("live watch: entry %q on an empty bucket", e.Key())
		}
	case <-ctx.Done():
		fail("live watch: no nil marker on an empty bucket (%v)", context.Cause(ctx))
	}

	pc, pjs := connect("publisher")
	defer pc.Close()
	p := begin("watch_live")
	published := make(chan struct{})
	go func() {
		publishKeys(ctx, pjs)
		close(published)
	}()
	drain(ctx, w, *keys, "live watch")
	p.end(*keys, *keys**size)
	select {
	case <-published:
	case <-ctx.Done():
		fail("publisher: %v", context.Cause(ctx))
	}
	check(w.Stop(), "stop watcher")
	expectValues(ctx, kv, *keys)
}

func runObj(ctx context.Context) {
	nc, js := connect("obj")
	defer nc.Close()
	data := make([]byte, *objSize)
	rng := rand.NewChaCha8([32]byte{'j', 'e', 't', 'b', 'r', 'o', 'k', 'e', 'r'})
	_, _ = rng.Read(data)
	want := sha256.Sum256(data)

	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: bucket, Storage: jetstream.FileStorage,
	})
	check(err, "create object store")
	p := begin("objput")
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: "blob"}, bytes.NewReader(data))
	check(err, "object put")
	p.end(1, *objSize)
	if info.Size != uint64(*objSize) {
		fail("object info: size %d, expected %d", info.Size, *objSize)
	}

	clear(data)
	p = begin("objget")
	res, err := obs.Get(ctx, "blob")
	check(err, "object get")
	// Read in a goroutine so that a stalled delivery reports how far it got.
	var read atomic.Int64
	done := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); {
			n, err := res.Read(data[off:])
			off += n
			read.Store(int64(off))
			if err != nil {
				done <- err
				return
			}
		}
		if extra, err := res.Read(make([]byte, 1)); extra != 0 || !errors.Is(err, io.EOF) {
			done <- fmt.Errorf("object longer than %d bytes (or read error %v)", *objSize, err)
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		check(err, fmt.Sprintf("object read (%d of %d bytes read)", read.Load(), *objSize))
	case <-ctx.Done():
		fail("object get: %v after %d of %d bytes (%d of %d chunks)", context.Cause(ctx), read.Load(),
			*objSize, read.Load()/int64(info.Opts.ChunkSize), info.Chunks)
	}
	p.end(1, *objSize)
	_ = res.Close()
	if got := sha256.Sum256(data); got != want {
		fail("object read back: sha256 %x, expected %x", got, want)
	}
}

func runPush(ctx context.Context) {
	nc, js := connect("push")
	defer nc.Close()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "benchpush", Subjects: []string{"bench.push"},
		Storage: jetstream.FileStorage})
	check(err, "create stream")
	payload := bytes.Repeat([]byte{'p'}, *size)
	for i := 0; i < *keys; i++ {
		_, err := js.PublishAsync("bench.push", payload)
		check(err, "publish async")
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		fail("fill not acknowledged (%v)", context.Cause(ctx))
	}
	if n := pubFailed.Load(); n > 0 {
		fail("%d async publishes failed", n)
	}

	legacy, err := nc.JetStream()
	check(err, "legacy jetstream context")
	seen := make([]atomic.Bool, *keys+1)
	var got, dup atomic.Int64
	done := make(chan struct{})
	handler := func(m *nats.Msg) {
		md, err := m.Metadata()
		if err != nil || md.Sequence.Stream == 0 || md.Sequence.Stream > uint64(*keys) || len(m.Data) != *size {
			stop(fmt.Errorf("unexpected message %q (metadata %v)", m.Subject, err))
			return
		}
		if seen[md.Sequence.Stream].Swap(true) {
			dup.Add(1)
		}
		if err := m.Ack(); err != nil {
			stop(fmt.Errorf("ack: %w", err))
			return
		}
		if got.Add(1) == int64(*keys) {
			close(done)
		}
	}
	opts := []nats.SubOpt{nats.Durable("push"), nats.ManualAck(), nats.AckExplicit(), nats.DeliverAll(), nats.BindStream("benchpush")}
	p := begin("push")
	var subs []*nats.Subscription
	for i := 0; i < *members; i++ {
		var sub *nats.Subscription
		if *members == 1 {
			sub, err = legacy.Subscribe("bench.push", handler, opts...)
		} else {
			sub, err = legacy.QueueSubscribe("bench.push", "group", handler, opts...)
		}
		check(err, "subscribe")
		check(sub.SetPendingLimits(-1, -1), "pending limits")
		subs = append(subs, sub)
	}
	select {
	case <-done:
	case <-ctx.Done():
		fail("push consumer: %v after %d of %d messages", context.Cause(ctx), got.Load(), *keys)
	}
	p.end(*keys, *keys**size)
	if d := dup.Load(); d > 0 {
		fail("%d messages delivered more than once", d)
	}
	// Every ack was sent; the consumer's ack floor must reach the end of the stream.
	for {
		ci, err := legacy.ConsumerInfo("benchpush", "push")
		check(err, "consumer info")
		if ci.AckFloor.Stream == uint64(*keys) && ci.NumAckPending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			fail("ack floor %d of %d, %d pending (%v)", ci.AckFloor.Stream, *keys, ci.NumAckPending, context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
}

func main() {
	flag.Parse()
	deadline, cancel := context.WithTimeoutCause(context.Background(), *timeout,
		fmt.Errorf("timed out (-timeout %v)", *timeout))
	defer cancel()
	ctx, cancelCause := context.WithCancelCause(deadline)
	defer cancelCause(nil)
	stop = cancelCause
	switch *mode {
	case "kv":
		runKV(ctx)
	case "watch":
		runWatch(ctx)
	case "live":
		runLive(ctx)
	case "obj":
		runObj(ctx)
	case "push":
		runPush(ctx)
	default:
		fail("unknown -mode (kv | watch | live | obj | push)")
	}
}
