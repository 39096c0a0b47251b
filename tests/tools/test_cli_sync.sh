#!/usr/bin/env bash
# test_cli_sync.sh MODE MENTORLOG MENTORLOG_SERVER — the `mentorlog` sync
# commands as a user runs them, against the real server over TLS on
# loopback (ctest test_cli_sync_offline, test_cli_sync_devices).
#
#   offline  sync of a profile never enrolled: NOT_ENROLLED, exit 1;
#            enroll with a wrong pin: TLS_PIN, exit 1, profile still not
#            enrolled; enroll (code on stdin) and sync; then the server is
#            stopped: sync says "server unreachable", exit 1, and the outbox
#            holds exactly what it held before (--json too); status, devices
#            and conflicts still work.
#   devices  two devices of one mentor: the second is pending until the first
#            approves it (a wrong fingerprint is refused), then records move
#            both ways; a contact corrected on both without a sync between
#            shows as one item with its two versions in conflicts --json.
#
# The store: SQLite in the server's data directory, or, when ML_TEST_PG_FILE
# names the conninfo file of the ctest fixture `postgresql`, a schema of its
# own there (as tests/testutil/test_store.h does; never a fallback to SQLite
# when the file cannot be read).
#
# Every check prints what it expected on failure; the script stops at the
# first one (exit 1). Nothing is left running: the server is stopped on exit.
set -euo pipefail
mode=$1
ML=$2
SRV=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/cli-sync-XXXXXX")
server_pid=
pg_ci=
schema=
cleanup() {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  if [ -n "$schema" ]; then psql -qX "$pg_ci" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null || true; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

store=()
if [ -n "${ML_TEST_PG_FILE:-}" ]; then
  [ -r "$ML_TEST_PG_FILE" ] || fail "ML_TEST_PG_FILE=$ML_TEST_PG_FILE cannot be read (is the fixture postgresql set up?)"
  pg_ci=$(head -n1 "$ML_TEST_PG_FILE")
  [ -n "$pg_ci" ] || fail "ML_TEST_PG_FILE=$ML_TEST_PG_FILE is empty"
  command -v psql >/dev/null || fail "psql is needed to make the test's schema"
  s=t_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  psql -qX "$pg_ci" -c "CREATE SCHEMA $s" >/dev/null || fail "cannot create schema $s"
  schema=$s
  store=(--store "postgresql:$pg_ci options='-c search_path=$schema'")
fi
export MENTORLOG_KDF=fast
export MENTORLOG_PASSPHRASE_FILE=$work/pass
(umask 077 && printf 'correct horse battery staple\n' >"$MENTORLOG_PASSPHRASE_FILE")

# ml PROFILE ARGS...: runs mentorlog; stdout in $work/out, stderr in
# $work/err, exit status in $rc (never fails the script by itself).
ml() {
  local p=$1; shift
  rc=0
  "$ML" --profile "$work/$p" "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
}
ml_in() { # ml_in INPUT PROFILE ARGS...: as ml, INPUT on standard input
  local in=$1 p=$2; shift 2
  rc=0
  printf '%s\n' "$in" | "$ML" --profile "$work/$p" "$@" >"$work/out" 2>"$work/err" || rc=$?
}
expect_rc() { [ "$rc" = "$1" ] || { cat "$work/err" >&2; fail "$2: exit $rc, expected $1"; }; }
expect_err() { grep -q -- "$1" "$work/err" || { cat "$work/err" >&2; fail "$2: stderr lacks '$1'"; }; }
expect_out() { grep -q -- "$1" "$work/out" || { cat "$work/out" >&2; fail "$2: stdout lacks '$1'"; }; }
json_num() { grep -o "\"$1\":[0-9]*" "$work/out" | head -n1 | cut -d: -f2; }
unsent() { ml "$1" status --json; expect_rc 0 "status $1"; json_num unsent; }

start_server() {
  "$SRV" serve --data "$work/server" "${store[@]}" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 300); do [ -s "$work/server/serve.addr" ] && break; sleep 0.1; done
  [ -s "$work/server/serve.addr" ] || { cat "$work/server.log" >&2; fail "server did not start"; }
  addr=$(cat "$work/server/serve.addr")
  url="https://127.0.0.1:${addr##*:}"
  fp=$("$SRV" admin --data "$work/server" "${store[@]}" fingerprint)
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || fail "server exited with status $?"
  server_pid=
}
admin() { "$SRV" admin --data "$work/server" "${store[@]}" "$@" 2>/dev/null; }

new_case() { # new_case PROFILE: a case with one contact; the case id in $case_id
  printf 'name: Test Citizen\n' | "$ML" --profile "$work/$1" case open --fields - >"$work/out" 2>"$work/err" ||
    { cat "$work/err" >&2; fail "case open"; }
  case_id=$(tail -n1 "$work/out")
  ml "$1" contact add "$case_id" --at "2026-11-03 10:00" --minutes 60 --channel home-visit --outcome held
  expect_rc 0 "contact add"
}

offline() {
  ml a init; expect_rc 0 "init"
  ml a sync
  expect_rc 1 "sync, never enrolled"
  expect_err "NOT_ENROLLED" "sync, never enrolled"
  ml a status; expect_rc 0 "status, never enrolled"; expect_out "not enrolled" "status, never enrolled"

  start_server
  mentor=$(admin mentor add "Test Mentor" | tail -n1)
  code=$(admin enroll-code "$mentor" --ttl 1h)
  wrong=$(printf '%s' "$fp" | tr '0-9a-f' '1-9a-f0')
  ml_in "$code" a enroll "$url" - --pin "$wrong" --label laptop
  expect_rc 1 "enroll, wrong pin"
  expect_err "TLS_PIN" "enroll, wrong pin"
  ml a status --json; expect_out '"enrolled":false' "status after the refused pin"

  ml_in "$code" a enroll "$url" - --pin "$fp" --label laptop
  expect_rc 0 "enroll"
  expect_out "fingerprint" "enroll"
  expect_out "approved     yes" "enroll of the first device"
  ml_in "$code" a enroll "$url" - --pin "$fp"
  expect_rc 1 "second enroll of one profile"; expect_err "ALREADY_EXISTS" "second enroll of one profile"

  new_case a
  [ "$(unsent a)" -gt 0 ] || fail "records written but the outbox is empty"
  ml a sync --json
  expect_rc 0 "sync"
  expect_out '"ok":true' "sync --json"
  [ "$(unsent a)" = 0 ] || fail "after sync the outbox is not empty"

  ml a contact add "$case_id" --at "2026-11-04 10:00" --minutes 30 --channel phone --outcome held
  expect_rc 0 "contact add offline"
  before=$(unsent a)
  [ "$before" -gt 0 ] || fail "outbox empty after an offline write"
  stop_server

  ml a sync
  expect_rc 1 "sync, server stopped"
  expect_err "server unreachable" "sync, server stopped"
  expect_err "nothing was lost, $before record" "sync, server stopped"
  expect_err "UNREACHABLE" "sync, server stopped"
  [ "$(unsent a)" = "$before" ] || fail "the outbox changed in a failed sync"
  ml a sync --json
  expect_rc 1 "sync --json, server stopped"
  expect_out '"ok":false' "sync --json, server stopped"
  expect_out '"error":"UNREACHABLE"' "sync --json, server stopped"
  [ "$(unsent a)" = "$before" ] || fail "the outbox changed in a failed sync (--json)"

  for c in status devices conflicts; do ml a "$c"; expect_rc 0 "$c offline"; done
  ml a verify; expect_rc 0 "verify"
}

devices() {
  ml a init; expect_rc 0 "init a"
  ml b init; expect_rc 0 "init b"
  start_server
  mentor=$(admin mentor add "Test Mentor" | tail -n1)
  ml a enroll "$url" "$(admin enroll-code "$mentor" --ttl 1h)" --pin "$fp" --label laptop
  expect_rc 0 "enroll a"
  new_case a
  ml a sync; expect_rc 0 "sync a"

  ml b enroll "$url" "$(admin enroll-code "$mentor" --ttl 1h)" --pin "$fp" --label phone
  expect_rc 0 "enroll b"
  expect_out "approved     no" "enroll of a second device"
  ml b status --json
  b_fp=$(grep -o '"fingerprint":"[^"]*"' "$work/out" | cut -d'"' -f4)
  b_id=$(grep -o '"device":"[0-9a-f]*"' "$work/out" | cut -d'"' -f4)
  [ ${#b_id} = 32 ] || fail "status --json: no device id"
  ml b sync; expect_rc 0 "sync b, not approved"

  ml a sync; expect_rc 0 "sync a, learns b"
  ml a devices; expect_rc 0 "devices"
  grep "^$b_id" "$work/out" | grep -q "pending approval" || { cat "$work/out" >&2; fail "devices: b not pending"; }
  grep -q "this device" "$work/out" || fail "devices: no 'this device'"
  ml a device approve "${b_id:0:8}" --fingerprint "AAAA-AAAA-AAAA-AAAA"
  expect_rc 1 "approve with a wrong fingerprint"; expect_err "FINGERPRINT_MISMATCH" "approve with a wrong fingerprint"
  ml a device approve "${b_id:0:8}" --fingerprint "$b_fp"
  expect_rc 0 "device approve"
  ml a sync; expect_rc 0 "sync a, grants"
  ml b sync; expect_rc 0 "sync b, approved"
  ml b status --json; expect_out '"approved":true' "b after approval"
  ml b contact list "$case_id"; expect_rc 0 "b reads a's case"
  expect_out "home-visit" "b reads a's contact"

  ml b contact add "$case_id" --at "2026-11-05 09:00" --minutes 20 --channel video --outcome held
  expect_rc 0 "b writes"
  rec=$(cat "$work/out")
  ml b sync; expect_rc 0 "sync b, push"
  ml a sync; expect_rc 0 "sync a, pull"
  ml a contact list "$case_id"; expect_out "video" "a reads b's contact"
  ml a devices --json; expect_rc 0 "devices --json"
  expect_out '"state":"approved"' "devices --json after approval"

  # both correct the contact without seeing each other's change: a conflict
  ml a contact correct "$rec" --minutes 25; expect_rc 0 "a corrects"
  ml b contact correct "$rec" --minutes 35; expect_rc 0 "b corrects"
  ml b sync; expect_rc 0 "sync b, correction"
  ml a sync; expect_rc 0 "sync a, concurrent correction"
  ml a conflicts --json; expect_rc 0 "conflicts --json"
  grep -qF "[{\"kind\":\"contact\",\"id\":\"$rec\",\"case\":\"$case_id\",\"versions\":[{\"id\":\"$rec\"," "$work/out" ||
    { cat "$work/out" >&2; fail "conflicts --json: not one contact item with its versions"; }
  expect_out '"minutes":25,' "conflicts --json: a's version"
  expect_out '"minutes":35,' "conflicts --json: b's version"
  [ "$(tail -c 5 "$work/out" | od -An -c | tr -d ' ')" = '}]}]\n' ] || { cat "$work/out" >&2; fail "conflicts --json: not closed"; }
  stop_server
}

case "$mode" in
  offline) offline ;;
  devices) devices ;;
  *) fail "unknown mode $mode" ;;
esac
echo "ok: $mode"
