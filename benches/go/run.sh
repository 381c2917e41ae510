#!/bin/sh
# Go baselines for goro's scheduler comparisons, one-shot (the Rust benches also build
# main.go themselves and drive it through `serve`). Usage: benches/go/run.sh [N]
# Needs a Go toolchain: `go` on PATH, $GO, or Debian's golang-1.19-go.
set -eu
cd "$(dirname "$0")"
GO=${GO:-$(command -v go || echo /usr/lib/go-1.19/bin/go)}
N=${1:-1000000}
OUT=../../target/go-bench
mkdir -p "$OUT"
GOCACHE=$(cd "$OUT" && pwd)/cache GO111MODULE=off "$GO" build -o "$OUT/goro-go-bench" main.go
"$GO" version
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
GOMAXPROCS=2 "$OUT/goro-go-bench" spawn "$N"
GOMAXPROCS=1 "$OUT/goro-go-bench" yield 10000000
GOMAXPROCS=2 "$OUT/goro-go-bench" rss "$N"
