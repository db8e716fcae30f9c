#!/usr/bin/env bash
# Creates the SPIRE registration entries SPIKE's systemd units need: Nexus,
# keepers 1..N, Bootstrap and the Pilot superuser. Run it on the SPIRE
# server host. Each entry is printed before it is created; --dry-run only
# prints them.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: register-spire-entries.sh [options]

Options (each also read from the environment variable shown):
  --trust-domain TD     trust domain, e.g. example.org         ($SPIKE_TRUST_DOMAIN, required)
  --parent-id ID        SPIFFE ID of the agent (node) the workloads run under,
                        e.g. spiffe://example.org/host          ($SPIKE_PARENT_ID, required)
  --keepers N           number of keepers, 1..N                 ($SPIKE_KEEPER_COUNT, default 3)
  --selector-style S    systemd: select services by unit (systemd:id:spike-nexus.service;
                        needs the SPIRE agent's systemd workload attestor);
                        unix: select by Unix user (unix:user:spike-nexus)
                                                                ($SPIKE_SELECTOR_STYLE, default systemd)
  --pilot-user USER     Unix user that runs the spike CLI as superuser; always
                        selected by unix:user                   ($SPIKE_PILOT_USER, default spike-admin)
  --server-socket PATH  spire-server API socket                 ($SPIRE_SERVER_SOCKET, default: spire-server's)
  --spire-server BIN    spire-server binary                     ($SPIRE_SERVER, default spire-server)
  --dry-run             print the commands, run nothing
  -h, --help            this text
USAGE
}

trust_domain=${SPIKE_TRUST_DOMAIN:-}
parent_id=${SPIKE_PARENT_ID:-}
keepers=${SPIKE_KEEPER_COUNT:-3}
style=${SPIKE_SELECTOR_STYLE:-systemd}
pilot_user=${SPIKE_PILOT_USER:-spike-admin}
server_socket=${SPIRE_SERVER_SOCKET:-}
spire_server=${SPIRE_SERVER:-spire-server}
dry_run=false

die() {
	echo "register-spire-entries: $*" >&2
	exit 2
}

while (($# > 0)); do
	case $1 in
	--trust-domain) trust_domain=${2:?--trust-domain needs a value}; shift 2 ;;
	--parent-id) parent_id=${2:?--parent-id needs a value}; shift 2 ;;
	--keepers) keepers=${2:?--keepers needs a value}; shift 2 ;;
	--selector-style) style=${2:?--selector-style needs a value}; shift 2 ;;
	--pilot-user) pilot_user=${2:?--pilot-user needs a value}; shift 2 ;;
	--server-socket) server_socket=${2:?--server-socket needs a value}; shift 2 ;;
	--spire-server) spire_server=${2:?--spire-server needs a value}; shift 2 ;;
	--dry-run) dry_run=true; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

[[ -n $trust_domain ]] || die "--trust-domain (or SPIKE_TRUST_DOMAIN) is required"
[[ $trust_domain =~ ^[a-z0-9._-]+$ ]] || die "trust domain $trust_domain: only a-z, 0-9, '.', '_' and '-'"
[[ -n $parent_id ]] || die "--parent-id (or SPIKE_PARENT_ID) is required"
[[ $parent_id == spiffe://* ]] || die "parent ID $parent_id is not a spiffe:// ID"
[[ $keepers =~ ^[1-9][0-9]*$ ]] || die "--keepers $keepers: a whole number from 1"
case $style in systemd | unix) ;; *) die "--selector-style $style: systemd or unix" ;; esac

# selector prints the selector of a service: its systemd unit or its user.
selector() {
	local unit=$1 user=$2
	if [[ $style == systemd ]]; then
		echo "systemd:id:$unit"
	else
		echo "unix:user:$user"
	fi
}

# create registers one SPIFFE ID (a path below the trust domain) for one
# selector.
create() {
	local path=$1 sel=$2
	local cmd=("$spire_server" entry create)
	if [[ -n $server_socket ]]; then
		cmd+=(-socketPath "$server_socket")
	fi
	cmd+=(-parentID "$parent_id" -spiffeID "spiffe://$trust_domain$path" -selector "$sel")
	echo "+ ${cmd[*]}"
	if [[ $dry_run == false ]]; then
		"${cmd[@]}"
	fi
}

create /spike/nexus "$(selector spike-nexus.service spike-nexus)"
for ((n = 1; n <= keepers; n++)); do
	create "/spike/keeper/$n" "$(selector "spike-keeper@$n.service" "spike-keeper-$n")"
done
create /spike/bootstrap "$(selector spike-bootstrap.service spike-bootstrap)"
create /spike/pilot/role/superuser "unix:user:$pilot_user"
