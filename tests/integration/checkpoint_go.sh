#!/usr/bin/env bash
# checkpoint_go.sh TEST_BINARY OUT_DIR — the checkpoint and tiles interop
# test (ctest test_checkpoint_go): builds tests/integration/note_go/*.go
# against Go's golang.org/x/mod/sumdb/note and sumdb/tlog as Debian ships
# them (golang-go, golang-golang-x-mod-dev; scripts/setup installs both),
# offline: GOPATH mode over /usr/share/gocode, no module download, no proxy.
# Then it runs TEST_BINARY (test_log_checkpoint) with ML_NOTE_GO set, so that
# every checkpoint the real server serves is also opened by Go, a note Go
# signs is opened by protocol/, and Go's tlog reads and proves the server's
# log from its C2SP tiles (note_go tiles).
#
# Exit 77 (ctest: skipped) with a message saying what is missing only when Go
# or the package is not installed; any other failure fails the test.
set -euo pipefail
test_bin=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
gopath=/usr/share/gocode
pkg=$gopath/src/golang.org/x/mod/sumdb/note/note.go
tlog_pkg=$gopath/src/golang.org/x/mod/sumdb/tlog/tile.go

if ! command -v go >/dev/null 2>&1; then
  echo "SKIPPED: Go is not installed (Debian packages golang-go and golang-golang-x-mod-dev; run scripts/setup)"
  exit 77
fi
if [ ! -f "$pkg" ]; then
  echo "SKIPPED: golang.org/x/mod/sumdb/note not found at $pkg (Debian package golang-golang-x-mod-dev; run scripts/setup)"
  exit 77
fi
if [ ! -f "$tlog_pkg" ]; then
  echo "SKIPPED: golang.org/x/mod/sumdb/tlog not found at $tlog_pkg (Debian package golang-golang-x-mod-dev; run scripts/setup)"
  exit 77
fi

mkdir -p "$out/gocache"
out=$(cd "$out" && pwd)
env GO111MODULE=off GOPATH="$gopath" GOCACHE="$out/gocache" GOFLAGS= GOPROXY=off \
  GOTOOLCHAIN=local GOTELEMETRY=off CGO_ENABLED=0 \
  go build -o "$out/note_go" "$here"/note_go/*.go
echo "built $out/note_go with $(go version)"

# The tool itself against sumdb/note's documented example (PeterNeumann).
printf '%s\n%s\n\n%s\n' \
  "If you think cryptography is the answer to your problem," \
  "then you don't know what your problem is." \
  "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=" \
  >"$out/peter.note"
"$out/note_go" verify "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" \
  "$out/peter.note" >/dev/null

ML_NOTE_GO="$out/note_go" "$test_bin"
