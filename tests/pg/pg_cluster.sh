#!/usr/bin/env bash
# tests/pg/pg_cluster.sh — a throwaway PostgreSQL cluster for the tests.
#
#   pg_cluster.sh start DIR   initdb a new cluster in DIR/cluster, start it,
#                             create the database mentorlog_test and write one
#                             line, a libpq key/value conninfo, to DIR/conninfo
#   pg_cluster.sh stop DIR    stop it (fast shutdown) and remove DIR/cluster
#   pg_cluster.sh DIR stop-immediate | DIR start
#                             the restart hook (ML_TEST_PG_CTL="pg_cluster.sh
#                             DIR", then "... stop-immediate", "... start"):
#                             crash-stop the running cluster (pg_ctl -m
#                             immediate: no checkpoint, recovery at the next
#                             start), start it again with its data
#
# The server listens on a Unix socket in a private directory (DIR/socket,
# mode 0700) and on no TCP address; fsync and synchronous_commit stay on (the
# defaults), so the tests see the durability the server relies on. Trust
# authentication: only the socket's owner (and root) can reach the socket;
# as root, also uid/gid 65534 (nobody/nogroup), which tests that drop their
# privileges run as (test_net_nocore): the directories are group 65534,
# mode 0710.
# As root, the server runs as the unprivileged user postgres (runuser); as
# another user, as that user. When postgres cannot reach DIR (a home
# directory of mode 0700) or DIR is too deep for a socket's path, the
# cluster lives in a private directory under TMPDIR, named in
# DIR/cluster.path. PostgreSQL's binaries: ML_PG_BINDIR, else
# pg_config --bindir, else the newest /usr/lib/postgresql/*/bin (Debian's
# postgresql package). A cluster left running by an interrupted run is
# stopped first. Exit status 0 on success; the reason on stderr otherwise.
set -euo pipefail

die() { echo "pg_cluster: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: pg_cluster.sh start|stop DIR, or pg_cluster.sh DIR stop-immediate|start"
cmd=$1
dir=$2
case "$2" in stop-immediate|start) cmd=restart-$2; dir=$1 ;; esac
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bindir=${ML_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  for c in /usr/lib/postgresql/*/bin; do [ -x "$c/initdb" ] && bindir=$c; done
fi
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
  c=$(pg_config --bindir)
  [ -x "$c/initdb" ] && bindir=$c
fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] ||
  die "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql (scripts/setup does), or set ML_PG_BINDIR"

if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  id "$owner" >/dev/null 2>&1 || die "running as root, but there is no user postgres to run the server as"
  as_owner() { runuser -u "$owner" -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi

# Where the cluster lives: DIR/cluster, or the directory DIR/cluster.path names.
cluster_dir() {
  if [ -f "$dir/cluster.path" ]; then cat "$dir/cluster.path"; else echo "$dir/cluster"; fi
}

stop_cluster() {
  local c
  c=$(cluster_dir)
  if [ -f "$c/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$c/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$c"
  rm -f "$dir/cluster.path" "$dir/conninfo"
}

case "$cmd" in
  start)
    stop_cluster
    c="$dir/cluster"
    # A socket path must fit sun_path (107 bytes): a deep DIR goes to TMPDIR.
    if as_owner test -x "$dir" && [ ${#c} -le 80 ]; then
      mkdir -m 0700 "$c"
      [ "$owner" = "$(id -un)" ] || chown "$owner:" "$c"
    else
      # The owner cannot even traverse DIR: a private directory it owns.
      c=$(as_owner mktemp -d "${TMPDIR:-/tmp}/mentorlog-pg.XXXXXX")
      echo "$c" > "$dir/cluster.path"
    fi
    as_owner mkdir -m 0700 "$c/socket"
    if [ "$(id -u)" -eq 0 ]; then
      chgrp 65534 "$c" "$c/socket"
      chmod 0710 "$c" "$c/socket"
    fi
    as_owner "$bindir/initdb" -D "$c/data" -U "$owner" -A trust -E UTF8 --locale=C.UTF-8 \
      >"$c/initdb.log" 2>&1 || { cat "$c/initdb.log" >&2; die "initdb failed"; }
    # A port of its own still names the socket file; no TCP address.
    port=5432
    # the settings live in the cluster (a restart keeps them)
    printf '%s\n' "listen_addresses = ''" "unix_socket_directories = '$c/socket'" "port = $port" \
      "max_connections = 300" "fsync = on" "synchronous_commit = on" |
      as_owner tee -a "$c/data/postgresql.conf" >/dev/null
    as_owner "$bindir/pg_ctl" -D "$c/data" -l "$c/server.log" -w -t 60 start >/dev/null ||
      { cat "$c/server.log" >&2 || true; die "the server did not start"; }
    as_owner "$bindir/createdb" -h "$c/socket" -p "$port" -U "$owner" mentorlog_test ||
      die "createdb mentorlog_test failed"
    # The tests (root or the owner) read it; one line, key/value form.
    printf 'host=%s port=%s dbname=mentorlog_test user=%s\n' "$c/socket" "$port" "$owner" \
      > "$dir/conninfo.tmp"
    mv "$dir/conninfo.tmp" "$dir/conninfo"
    echo "pg_cluster: PostgreSQL $("$bindir/postgres" -V | awk '{print $3}') on $c/socket (user $owner)"
    ;;
  stop)
    stop_cluster
    ;;
  restart-stop-immediate)
    c=$(cluster_dir)
    as_owner "$bindir/pg_ctl" -D "$c/data" -m immediate -w -t 60 stop >/dev/null
    ;;
  restart-start)
    c=$(cluster_dir)
    as_owner "$bindir/pg_ctl" -D "$c/data" -l "$c/server.log" -w -t 120 start >/dev/null ||
      { tail -n 20 "$c/server.log" >&2 || true; die "the server did not start again"; }
    ;;
  *)
    die "usage: pg_cluster.sh start|stop DIR"
    ;;
esac
