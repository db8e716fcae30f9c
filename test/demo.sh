#!/usr/bin/env bash
# What `make demo` runs: the whole system on this machine, on embedded
# defaults, then everything stopped. `spike dev` runs a development CA,
# three keepers, Nexus and the real bootstrap in one process; the superuser
# creates the demo policy; spike-demo, as spiffe://spike.ist/workload/demo,
# writes and reads a secret; the pilot lists it, reads it, shows who read
# it; and after the stop, the event log is verified offline.
#
# Settings (environment): BIN, the directory of the binaries (default
# bin, as `make build` leaves them); SPIKE_DEMO_NEXUS_ADDR, Nexus's
# address (default 127.0.0.1:8553).
set -euo pipefail

bin=$(cd "${BIN:-bin}" && pwd)
addr=${SPIKE_DEMO_NEXUS_ADDR:-127.0.0.1:8553}
data=$(mktemp -d "${TMPDIR:-/tmp}/spike-demo.XXXXXX")
dev_pid=""

stop_dev() {
	if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then
		kill -INT "$dev_pid"
		wait "$dev_pid" || true
	fi
	dev_pid=""
}
cleanup() {
	stop_dev
	rm -rf "$data"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
# show prints a command as a user would type it, then runs it.
show() {
	printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"
	"$@"
}
# show_as runs a command with SPIKE_SVID_DIR set to another identity.
show_as() {
	local who=$1
	shift
	printf '\n%s$ SPIKE_SVID_DIR=.../svid/%s %s%s\n' "$bold" "$who" "$*" "$plain"
	SPIKE_SVID_DIR="$data/dev/svid/$who" "$@"
}

echo "Starting spike dev (data in $data/dev) ..."
"$bin/spike" dev --data-dir "$data/dev" --nexus-addr "$addr" --ops-addr - >"$data/dev.out" 2>"$data/dev.err" &
dev_pid=$!
for _ in $(seq 1 600); do
	grep -q "Press Ctrl-C" "$data/dev.out" 2>/dev/null && break
	if ! kill -0 "$dev_pid" 2>/dev/null; then
		echo "make demo: spike dev stopped before it was ready:" >&2
		cat "$data/dev.err" >&2
		exit 1
	fi
	sleep 0.1
done
if ! grep -q "Press Ctrl-C" "$data/dev.out"; then
	echo "make demo: spike dev was not ready within 60s:" >&2
	cat "$data/dev.err" >&2
	exit 1
fi
sed 's/^/  | /' "$data/dev.out"

export PATH="$bin:$PATH"
export SPIKE_NEXUS_URL="https://$addr"
export SPIKE_SVID_DIR="$data/dev/svid/superuser"

show spike policy create --name demo \
	--spiffeid-pattern '^spiffe://spike\.ist/workload/demo$' \
	--path-pattern '^tenants/demo/.*$' --permissions read,write
show_as demo spike-demo
show spike secret list
show spike secret get tenants/demo/db/creds username
show spike secret metadata get tenants/demo/db/creds
# The auditor may see history, never values: this read is refused. It must
# fail as a refusal (exit 1, saying so), not for any reason at all: a
# Nexus that is down or a missing binary fails too.
status=0
show_as auditor spike secret get tenants/demo/db/creds 2>"$data/refused.err" || status=$?
cat "$data/refused.err" >&2
if [ "$status" -ne 1 ] || ! grep -q "refused" "$data/refused.err"; then
	echo "make demo: the auditor's read did not fail as a refusal (exit $status, want 1 and a refusal)" >&2
	exit 1
fi
show_as auditor spike secret history tenants/demo/db/creds
# The verifier key of the log's checkpoints, which an auditor pins; Nexus
# signs its first checkpoint within a second of the first events.
vkey=""
for _ in $(seq 1 100); do
	vkey=$(spike audit checkpoint --format json 2>/dev/null | sed -n 's/.*"verifierKey": *"\([^"]*\)".*/\1/p') || true
	[ -n "$vkey" ] && break
	sleep 0.1
done
if [ -z "$vkey" ]; then
	echo "make demo: Nexus signed no checkpoint within 10s" >&2
	exit 1
fi

echo
echo "Stopping spike dev ..."
stop_dev
show spike audit verify "$data/dev/nexus/events.db" --key "$vkey"
echo
echo "make demo: done. Every step above is in the log; 'make test' runs every test."
