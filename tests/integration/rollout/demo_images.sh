#!/usr/bin/env bash
# Integration test of the demo images against the real engine and registry:
# hack/images builds and pushes v1, v2, v3, broken (twice: same digests), then one
# container of each runs on the host network on its own free ports (by digest, with a
# read-only root and tmpfs /tmp, as kctl runs them) and must answer with its version;
# broken must fail /healthz; the image contents differ as documented (deleted file,
# mode change, symlink target, file -> directory); SIGTERM lets an in-flight request
# finish and exits 0; two replicas share one port through SO_REUSEPORT and the survivor
# takes all traffic when the other stops. Containers are removed on exit.
# Needs DOCKER_HOST (hack/engine up); skipped (77) without an engine or registry.
set -uo pipefail

src=${KCTL_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
registry=127.0.0.1:5000
repo=kctl-demo
prefix=kctl-it-demo-$$
fails=0

skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { # $1: description, rest: command
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

[ -n "${DOCKER_HOST:-}" ] || skip "DOCKER_HOST not set (run hack/engine up)"
command -v docker >/dev/null || skip "docker CLI not installed"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || skip "engine at $DOCKER_HOST does not answer"
curl -sf --max-time 3 "http://$registry/v2/" >/dev/null || skip "registry $registry does not answer"

cleanup() {
	local ids
	ids=$(docker ps -aq --filter "label=kctl.test=$prefix")
	[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
}
trap cleanup EXIT

# ---- images ---------------------------------------------------------------------------
out1=$("$src/hack/images" 2>"/tmp/$prefix.log") || {
	cat "/tmp/$prefix.log"
	rm -f "/tmp/$prefix.log"
	not_ok "hack/images builds and pushes"
	exit 1
}
rm -f "/tmp/$prefix.log"
ok "hack/images builds and pushes"
echo "$out1" | sed 's/^/# /'
out2=$("$src/hack/images" 2>/dev/null)
check "hack/images is idempotent (same digests)" test "$out1" = "$out2"
declare -A digest
for t in v1 v2 v3 broken; do
	digest[$t]=$(echo "$out1" | awk -v r="$registry/$repo:$t" '$1 == r { print $2 }')
	check "$t has a digest" grep -Eq '^sha256:[0-9a-f]{64}$' <<<"${digest[$t]}"
	reg=$(curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$registry/v2/$repo/manifests/$t" | tr -d '\r' |
		awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
	check "registry resolves $t to the printed digest" test "$reg" = "${digest[$t]}"
done
check "the four images are distinct" \
	test "$(printf '%s\n' "${digest[@]}" | sort -u | wc -l)" = 4

# ---- helpers --------------------------------------------------------------------------
free_ports() { # $1: how many free TCP ports on 127.0.0.1
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

run() { # $1: name suffix, $2: tag, $3: port, $4: health port, rest: extra docker args
	local name=$prefix-$1 tag=$2 port=$3 hport=$4
	shift 4
	docker run -d --name "$name" --label "kctl.test=$prefix" --network host \
		--read-only --tmpfs /tmp -e PORT="$port" -e HEALTH_PORT="$hport" \
		-e REPLICA_ID="$name" "$@" "$registry/$repo@${digest[$tag]}" >/dev/null
}

wait_http() { # $1: url; waits until it answers at all (any status)
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}

body() { curl -s --max-time 5 "$1"; }
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }

# ---- one container per image ----------------------------------------------------------
read -r -a ports <<<"$(free_ports 12)"
i=0
declare -A sport hport
for t in v1 v2 v3 broken; do
	sport[$t]=${ports[$i]}
	hport[$t]=${ports[$((i + 1))]}
	i=$((i + 2))
	check "$t starts" run "$t" "$t" "${sport[$t]}" "${hport[$t]}"
	check "$t answers" wait_http "http://127.0.0.1:${sport[$t]}/version"
done
for t in v1 v2 v3; do
	n=${t#v}
	check "$t: GET / says Version $n" \
		test "$(body "http://127.0.0.1:${sport[$t]}/")" = "Hello, World! Version $n"
	check "$t: GET /version says $n" test "$(body "http://127.0.0.1:${sport[$t]}/version")" = "$n"
	check "$t: /healthz on the health port is 200" \
		test "$(status "http://127.0.0.1:${hport[$t]}/healthz")" = 200
done
check "broken: GET / still answers" \
	test "$(body "http://127.0.0.1:${sport[broken]}/")" = "Hello, World! Version broken"
check "broken: /healthz is 503" test "$(status "http://127.0.0.1:${hport[broken]}/healthz")" = 503
sleep 1
check "broken: /healthz is still 503 later" \
	test "$(status "http://127.0.0.1:${hport[broken]}/healthz")" = 503

# Contents differ the way the versions say (and exec works: busybox is there).
x() { docker exec "$prefix-$1" /bin/sh -c "$2" 2>/dev/null; }
check "v1 has static/old.txt" x v1 'test -f /app/static/old.txt'
check "v2 deleted static/old.txt" x v2 '! test -e /app/static/old.txt'
check "v2 added static/new-in-v2.txt" x v2 'test -f /app/static/new-in-v2.txt'
check "hook.sh modes 644 -> 755 -> 700" test "$(x v1 'stat -c %a /app/bin/hook.sh') \
$(x v2 'stat -c %a /app/bin/hook.sh') $(x v3 'stat -c %a /app/bin/hook.sh')" = "644 755 700"
check "v2 changed config/app.conf" test "$(x v1 'sha256sum < /app/config/app.conf')" != \
	"$(x v2 'sha256sum < /app/config/app.conf')"
check "v3 re-pointed config/current.conf" test "$(x v3 'readlink /app/config/current.conf')" = app-v3.conf
check "v3 turned static/thing into a directory" x v3 'test -d /app/static/thing && test -f /app/static/thing/inside.txt'
check "v3 replaced static/assets" x v3 'test -f /app/static/assets/c.css && ! test -e /app/static/assets/a.css'
check "the root filesystem is read-only" x v1 '! touch /app/x'
check "/tmp is writable" x v1 'touch /tmp/x'

# ---- SIGTERM: the in-flight request completes, the process exits 0 --------------------
tmp=$(mktemp)
curl -s --max-time 15 "http://127.0.0.1:${sport[v1]}/sleep?ms=2000" >"$tmp" &
cpid=$!
sleep 0.5
start=$(date +%s%N)
docker stop -t 20 "$prefix-v1" >/dev/null
stop_ms=$((($(date +%s%N) - start) / 1000000))
wait "$cpid"
crc=$?
check "in-flight request completed across SIGTERM (curl rc $crc)" test "$crc" = 0
check "in-flight request got its answer" grep -q "slept 2000 ms, Version 1" "$tmp"
rm -f "$tmp"
check "exit status after SIGTERM is 0" \
	test "$(docker inspect --format '{{.State.ExitCode}}' "$prefix-v1")" = 0
check "stopped after draining, not at the grace timeout (${stop_ms} ms)" test "$stop_ms" -lt 10000
check "the service port is closed after stop" \
	test "$(status "http://127.0.0.1:${sport[v1]}/")" = 000

# ---- SO_REUSEPORT: two replicas share one port --------------------------------------------
shared=${ports[8]}
check "replica a (v1) starts on port $shared" run a v1 "$shared" "${ports[9]}"
check "replica a answers" wait_http "http://127.0.0.1:$shared/"
check "replica b (v2) starts on the same port" run b v2 "$shared" "${ports[10]}"
check "replica b is healthy" wait_http "http://127.0.0.1:${ports[10]}/healthz"
declare -A seen=()
for _ in $(seq 1 60); do
	b=$(body "http://127.0.0.1:$shared/")
	seen[$b]=1
done
check "both replicas served the shared port" \
	test -n "${seen[Hello, World! Version 1]:-}" -a -n "${seen[Hello, World! Version 2]:-}"
# Requests keep flowing while replica a stops; the survivor takes them all. The loop
# runs until 10 requests have completed after the stop (by count, not time, so a loaded
# machine still sends some), at most 60 s.
tmp=$(mktemp)
stopfile=$tmp.stop
(
	end=$((SECONDS + 60))
	while [ ! -e "$stopfile" ] && [ $SECONDS -lt $end ]; do
		curl -s --max-time 2 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$shared/" ||
			echo fail
	done
) >"$tmp" &
lpid=$!
sleep 0.7
before=$(wc -l <"$tmp")
docker stop -t 20 "$prefix-a" >/dev/null
stopped=$(wc -l <"$tmp")
for _ in $(seq 1 600); do
	[ "$(wc -l <"$tmp")" -ge $((stopped + 10)) ] && break
	sleep 0.1
done
touch "$stopfile"
wait "$lpid"
total=$(wc -l <"$tmp")
bad=$(grep -vc '^200$' "$tmp")
rm -f "$tmp" "$stopfile"
echo "# $total requests ($before before the stop, $((stopped - before)) during it), $bad failed" \
	"(net.ipv4.tcp_migrate_req=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo '?'))"
check "requests were sent before, during and after the stop" test "$total" -ge $((stopped + 10))
check "no failed request while one replica stopped" test "$bad" = 0
after=$(for _ in $(seq 1 20); do body "http://127.0.0.1:$shared/"; done | sort -u)
check "afterwards only the survivor answers" test "$after" = "Hello, World! Version 2"

echo "# $fails failed"
[ "$fails" = 0 ]
