#!/usr/bin/env bash
# spire.sh: run a real SPIRE server and agent by hand, for manual testing.
#
# The Go harness in test/e2e/spire is what the tests use; this script does
# the same steps in shell and doubles as their documentation. Both share
# the binary cache, its build.lock and its build.log convention.
#
# Usage:
#   spire.sh build                       build (or reuse) the SPIRE binaries
#   spire.sh start [ID=SELECTOR[,SELECTOR...] ...]
#                                        start server + agent, create entries,
#                                        print the Workload API socket path
#   spire.sh stop                        stop both and remove the run dir
#
# Entries: ID is a SPIFFE ID, or a path that is put under the trust domain;
# selectors are type:value, e.g.
#   spire.sh start spike/nexus=unix:path:/tmp/roles/nexus \
#                  spike/keeper/1=unix:path:/tmp/roles/keeper-1,unix:uid:$(id -u)
#   . /tmp/spk-spire/spire.env     # SPIFFE_ENDPOINT_SOCKET, SPIRE_SERVER_BIN, ...
#
# Environment:
#   SPIKE_SPIRE_CACHE   binary cache (default $HOME/.cache/spike/spire-v1.13.3)
#   SPIKE_SPIRE_BIN     dir with prebuilt spire-server and spire-agent; no build
#   SPIKE_SPIRE_DIR     run dir (default /tmp/spk-spire; keep it short: the
#                       Unix socket paths in it must stay under 108 bytes)
#   SPIKE_SPIRE_TD      trust domain (default spike.test)
#   SPIKE_SPIRE_TTL     default X.509 SVID TTL (default 1h)
#   SPIKE_SPIRE_SYNC    server cache reload and agent sync interval (default 1s)
#   SPIKE_SPIRE_KEEP=1  on stop, keep the run dir (logs) instead of removing it
set -euo pipefail

VERSION=v1.13.3
CACHE=${SPIKE_SPIRE_CACHE:-$HOME/.cache/spike/spire-$VERSION}
DIR=${SPIKE_SPIRE_DIR:-/tmp/spk-spire}
TD=${SPIKE_SPIRE_TD:-spike.test}
TTL=${SPIKE_SPIRE_TTL:-1h}
SYNC=${SPIKE_SPIRE_SYNC:-1s}
HOST_ID=spiffe://$TD/host

die() { echo "spire.sh: $*" >&2; exit 1; }

# build_locked runs the build recipe (spire-local.md section 1). A plain
# "go install pkg@version" fails here because the proxy refuses version
# lists; "go get -tool" avoids them. cgo is required (sqlite3 datastore).
build_locked() {
	mkdir -p "$CACHE/build"
	local server=github.com/spiffe/spire/cmd/spire-server agent=github.com/spiffe/spire/cmd/spire-agent rc=0
	(
		# The marker tells a later builder that this log was written under
		# the lock (build.go's markerPrefix).
		echo "# SPIRE build by pid $$, holding build.lock (SPIRE $VERSION)" &&
			cd "$CACHE/build" &&
			{ [ -f go.mod ] || { echo '$ go mod init x' && go mod init x; }; } &&
			echo "\$ go get -tool $server@$VERSION" && GOWORK=off go get -tool "$server@$VERSION" &&
			echo "\$ go get -tool $agent@$VERSION" && GOWORK=off go get -tool "$agent@$VERSION" &&
			echo "\$ go install -v -ldflags=-s -w $server $agent" &&
			GOWORK=off GOBIN="$CACHE/bin" CGO_ENABLED=1 go install -v -ldflags="-s -w" "$server" "$agent"
	) >"$CACHE/build.log" 2>&1 || rc=$?
	echo "rc=$rc" >>"$CACHE/build.log"
	return $rc
}

# ready: both binaries exist and build.log, if any, ends with rc=0.
ready() {
	[ -x "$CACHE/bin/spire-server" ] && [ -x "$CACHE/bin/spire-agent" ] || return 1
	[ ! -f "$CACHE/build.log" ] || [ "$(tail -n 1 "$CACHE/build.log")" = rc=0 ]
}

# take_lock takes the cache's build lock on fd 9. While another process
# holds it (it is alive: the kernel drops a dead process's lock), wait as
# long as its build.log keeps growing (go install -v names each package);
# give up after STALL seconds without growth, as build.go does.
STALL=600
take_lock() {
	local seen="" now since=$SECONDS
	exec 9>>"$CACHE/build.lock"
	until flock -w 1 9; do
		now=$(stat -c '%s %Y' "$CACHE/build.log" 2>/dev/null || echo none)
		if [ "$now" != "$seen" ]; then
			seen=$now since=$SECONDS
		fi
		[ $((SECONDS - since)) -lt $STALL ] ||
			die "another SPIRE build holds $CACHE/build.lock and has not written to $CACHE/build.log for $STALL s: it seems stuck ($(head -n 1 "$CACHE/build.log" 2>/dev/null)); stop it and run again"
	done
}

# binaries sets SERVER and AGENT, building them under the cache's flock.
binaries() {
	if [ -n "${SPIKE_SPIRE_BIN:-}" ]; then
		SERVER=$SPIKE_SPIRE_BIN/spire-server AGENT=$SPIKE_SPIRE_BIN/spire-agent
		[ -x "$SERVER" ] && [ -x "$AGENT" ] || die "SPIKE_SPIRE_BIN=$SPIKE_SPIRE_BIN lacks spire-server or spire-agent"
		return
	fi
	SERVER=$CACHE/bin/spire-server AGENT=$CACHE/bin/spire-agent
	ready && return
	command -v go >/dev/null || die "cannot build SPIRE $VERSION: go is not in PATH (set SPIKE_SPIRE_BIN)"
	mkdir -p "$CACHE"
	take_lock
	if ! ready; then
		echo "building SPIRE $VERSION into $CACHE (cold: ~6-7 min; log: $CACHE/build.log)" >&2
		build_locked || die "build failed; tail of $CACHE/build.log:
$(tail -n 30 "$CACHE/build.log")"
	fi
	exec 9>&-
}

# poll_healthy BIN SOCKET waits up to 60 s for "BIN healthcheck".
poll_healthy() {
	for _ in $(seq 600); do
		"$1" healthcheck -socketPath "$2" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# entries_json turns ID=SEL,SEL arguments into "entry create -data" JSON.
entries_json() {
	local sep="" arg id sels s ssep
	printf '{"entries":['
	for arg in "$@"; do
		[[ $arg == *=* ]] || die "entry '$arg' is not ID=SELECTOR[,SELECTOR...]"
		id=${arg%%=*} sels=${arg#*=}
		[[ $id == spiffe://* ]] || id=spiffe://$TD/${id#/}
		printf '%s{"spiffe_id":"%s","parent_id":"%s","selectors":[' "$sep" "$id" "$HOST_ID"
		ssep=""
		IFS=, read -ra parts <<<"$sels"
		for s in "${parts[@]}"; do
			[[ $s == *:* ]] || die "selector '$s' is not type:value"
			printf '%s{"type":"%s","value":"%s"}' "$ssep" "${s%%:*}" "${s#*:}"
			ssep=,
		done
		printf ']}'
		sep=,
	done
	printf ']}\n'
}

write_confs() {
	cat >"$DIR/conf/server.conf" <<-EOF
	server {
	    bind_address = "127.0.0.1"
	    bind_port = $PORT
	    socket_path = "$DIR/server.sock"
	    trust_domain = "$TD"
	    data_dir = "$DIR/data/server"
	    log_level = "INFO"
	    ca_ttl = "24h"
	    default_x509_svid_ttl = "$TTL"
	    experimental { cache_reload_interval = "$SYNC" }
	}
	plugins {
	    DataStore "sql" {
	        plugin_data {
	            database_type = "sqlite3"
	            connection_string = "$DIR/data/server/datastore.sqlite3"
	        }
	    }
	    NodeAttestor "join_token" { plugin_data {} }
	    KeyManager "memory" { plugin_data {} }
	}
	EOF
	cat >"$DIR/conf/agent.conf" <<-EOF
	agent {
	    data_dir = "$DIR/data/agent"
	    log_level = "INFO"
	    server_address = "127.0.0.1"
	    server_port = $PORT
	    socket_path = "$DIR/agent.sock"
	    trust_bundle_path = "$DIR/conf/bundle.pem"
	    trust_domain = "$TD"
	    experimental { sync_interval = "$SYNC" }
	}
	plugins {
	    NodeAttestor "join_token" { plugin_data {} }
	    KeyManager "memory" { plugin_data {} }
	    WorkloadAttestor "unix" {
	        plugin_data {
	            discover_workload_path = true
	            workload_size_limit = -1
	        }
	    }
	}
	EOF
}

start() {
	binaries
	[ ! -f "$DIR/server.pid" ] || die "$DIR/server.pid exists: run 'spire.sh stop' first"
	[ ${#DIR} -lt 80 ] || die "SPIKE_SPIRE_DIR is too long for Unix socket paths"
	local json
	json=$(entries_json "$@") # validate before starting anything
	rm -rf "$DIR/data"
	mkdir -p "$DIR/conf" "$DIR/logs" "$DIR/data/server" "$DIR/data/agent"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000)))
	write_confs
	# On any failure from here on, stop what was started but keep the logs.
	trap 'rc=$?; [ $rc -eq 0 ] || SPIKE_SPIRE_KEEP=1 stop; exit $rc' EXIT
	setsid "$SERVER" run -config "$DIR/conf/server.conf" >"$DIR/logs/server.log" 2>&1 &
	echo $! >"$DIR/server.pid"
	poll_healthy "$SERVER" "$DIR/server.sock" || die "server not healthy; see $DIR/logs/server.log"
	"$SERVER" bundle show -socketPath "$DIR/server.sock" -format pem >"$DIR/conf/bundle.pem"
	if [ $# -gt 0 ]; then
		"$SERVER" entry create -socketPath "$DIR/server.sock" -data - <<<"$json" >"$DIR/logs/entries.log" 2>&1 ||
			die "entry create failed: $(cat "$DIR/logs/entries.log")"
	fi
	local token
	token=$("$SERVER" token generate -socketPath "$DIR/server.sock" -spiffeID "$HOST_ID" -ttl 600 | awk '{print $2}')
	setsid "$AGENT" run -config "$DIR/conf/agent.conf" -joinToken "$token" >"$DIR/logs/agent.log" 2>&1 &
	echo $! >"$DIR/agent.pid"
	poll_healthy "$AGENT" "$DIR/agent.sock" || die "agent not healthy; see $DIR/logs/agent.log"
	trap - EXIT
	cat >"$DIR/spire.env" <<-EOF
	SPIFFE_ENDPOINT_SOCKET=unix://$DIR/agent.sock
	SPIRE_DIR=$DIR
	SPIRE_TRUST_DOMAIN=$TD
	SPIRE_SERVER_BIN=$SERVER
	SPIRE_AGENT_BIN=$AGENT
	SPIRE_SERVER_SOCKET=$DIR/server.sock
	SPIRE_AGENT_SOCKET=$DIR/agent.sock
	SPIRE_AGENT_SPIFFE_ID=$HOST_ID
	SPIRE_SERVER_PID=$(cat "$DIR/server.pid")
	SPIRE_AGENT_PID=$(cat "$DIR/agent.pid")
	EOF
	echo "$DIR/agent.sock"
}

# stop_pid FILE: SIGTERM the PID in FILE, SIGKILL after 10 s.
stop_pid() {
	[ -f "$1" ] || return 0
	local pid
	pid=$(cat "$1")
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

stop() {
	stop_pid "$DIR/agent.pid"
	stop_pid "$DIR/server.pid"
	if [ "${SPIKE_SPIRE_KEEP:-}" = 1 ]; then
		rm -rf "$DIR/data"
	else
		rm -rf "$DIR"
	fi
}

case ${1:-} in
build) binaries && echo "$SERVER" && echo "$AGENT" ;;
start) shift && start "$@" ;;
stop) stop ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
