#!/usr/bin/env bash
# kctl rollout against the real engine and registry, with the demo images
# (hack/images): zero failed requests under a steady probe while v1 -> v2,
# automatic undo of a broken image, undo and history, Recreate and blue-green,
# bad input failing before any container is touched, and idempotence.
set -uo pipefail
kctl=${KCTL:-$KCTL_BUILD_DIR/shim/cli/kctl}
src=${KCTL_SOURCE_DIR:?}
reg=127.0.0.1:5000/kctl-demo
app=kctl-test-rollout
port=18080
fails=0
tmp=$(mktemp -d)

if [ -z "${DOCKER_HOST:-}" ]; then
	echo "SKIP: DOCKER_HOST is not set (run through hack/test)"
	exit 77
fi

cleanup() {
	ids=$(docker ps -aq --filter "label=io.kctl.app=$app")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
cleanup
tmp=$(mktemp -d)

fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

# manifest NAME [STRATEGY-BLOCK-REPLACEMENT]: the demo manifest under the test's
# own name and port.
manifest() {
	sed -e "s/kctl-demo\$/$app/; s/name: kctl-demo/name: $app/; s/app: kctl-demo/app: $app/" \
		-e "s/value: \"8080\"/value: \"$port\"/; s/containerPort: 8080/containerPort: $port/" \
		"$src/manifests/demo-app.yaml" >"$tmp/$1.yaml"
}

ids() { docker ps -q --no-trunc --filter "label=io.kctl.app=$app" | sort | tr '\n' ' '; }
all_ids() { docker ps -aq --no-trunc --filter "label=io.kctl.app=$app" | sort | tr '\n' ' '; }
running_digests() {
	docker ps --filter "label=io.kctl.app=$app" --format '{{.Label "io.kctl.image-digest"}}' | sort -u
}
answer() { curl -s --max-time 2 "http://127.0.0.1:$port/"; }

probe_start() { # duration
	"$kctl" probe "http://127.0.0.1:$port/" --rate 200 --duration "$1" -o json >"$tmp/probe.json" &
	probe_pid=$!
	sleep 0.5
}
probe_check() { # name
	wait "$probe_pid"
	local req failures gap
	req=$(python3 -c "import json; print(json.load(open('$tmp/probe.json'))['requests'])")
	failures=$(python3 -c "import json; print(json.load(open('$tmp/probe.json'))['failures'])")
	gap=$(python3 -c "import json; print(json.load(open('$tmp/probe.json'))['longestGapMs'])")
	echo "     probe: $req requests, $failures failed, longest gap ${gap} ms"
	[ "$req" -ge 1000 ] || fail "$1: probe sent only $req requests"
	[ "$failures" = 0 ] || fail "$1: $failures probe requests failed"
}

digest_of() { "$kctl" image resolve "$reg:$1"; }
d1=$(digest_of v1)
d2=$(digest_of v2)
d3=$(digest_of v3)
[ -n "$d1" ] && [ -n "$d2" ] && [ -n "$d3" ] || { echo "demo images missing: run hack/images"; exit 1; }

manifest app
echo "== deploy v1"
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:v1" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "deploy v1"; }
[ "$(docker ps -q --filter "label=io.kctl.app=$app" | wc -l)" = 3 ] || fail "v1: not 3 replicas"
[ "$(running_digests)" = "$d1" ] || fail "v1: digests $(running_digests)"
answer | grep -q "Version 1" || fail "v1: GET / says '$(answer)'"

echo "== re-running the same rollout is a no-op"
before=$(all_ids)
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:v1" -o json >"$tmp/out" 2>&1 || fail "rerun"
python3 -c "import json,sys; sys.exit(0 if json.load(open('$tmp/out'))['changed'] is False else 1)" || fail "rerun reported a change"
[ "$(all_ids)" = "$before" ] || fail "rerun changed containers"

echo "== v1 -> v2 under a 200/s probe"
probe_start 12s
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:v2" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "roll to v2"; }
probe_check "v1 -> v2"
[ "$(running_digests)" = "$d2" ] || fail "v2: running digests '$(running_digests)'"
[ "$(docker ps -q --filter "label=io.kctl.app=$app" | wc -l)" = 3 ] || fail "v2: not 3 replicas"
answer | grep -q "Version 2" || fail "v2: GET / says '$(answer)'"
for id in $(ids); do
	docker inspect --format '{{.Config.Image}}' "$id" | grep -q "@$d2\$" || fail "v2: replica $id runs an unpinned image"
done
"$kctl" rollout status "$app" >"$tmp/out" 2>&1 || fail "status after v2: $(cat "$tmp/out")"

echo "== broken: undone automatically, v2 keeps serving"
v2_ids=$(ids)
probe_start 20s
start=$(date +%s)
if "$kctl" rollout -f "$tmp/app.yaml" --image "$reg:broken" --timeout 15s >"$tmp/out" 2>&1; then
	fail "broken rollout succeeded"
fi
took=$(($(date +%s) - start))
probe_check "broken"
grep -q "undone" "$tmp/out" || fail "broken: message does not say undone: $(cat "$tmp/out")"
[ "$took" -le 40 ] || fail "broken: took ${took}s"
[ "$(ids)" = "$v2_ids" ] || fail "broken: v2 replicas changed"
bd=$(digest_of broken)
docker ps -a --filter "label=io.kctl.app=$app" --format '{{.Label "io.kctl.image-digest"}}' | grep -qx "$bd" &&
	fail "broken: a broken container was left"
answer | grep -q "Version 2" || fail "broken: GET / says '$(answer)'"

echo "== undo returns to v1; history lists digests"
"$kctl" rollout undo "$app" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "undo"; }
[ "$(running_digests)" = "$d1" ] || fail "undo: running digests '$(running_digests)'"
answer | grep -q "Version 1" || fail "undo: GET / says '$(answer)'"
"$kctl" rollout history "$app" >"$tmp/hist" 2>&1 || fail "history"
grep -q "$d1" "$tmp/hist" || fail "history lacks v1's digest"
grep -q "$d2" "$tmp/hist" || fail "history lacks v2's digest"
"$kctl" rollout history "$app" -o json >"$tmp/hist.json" || fail "history json"
python3 - "$tmp/hist.json" "$d1" <<'PY' || fail "history json: v1 not active"
import json, sys
h = json.load(open(sys.argv[1]))
act = [r for r in h["revisions"] if r["active"]]
sys.exit(0 if len(act) == 1 and act[0]["digest"] == sys.argv[2] else 1)
PY

echo "== bad input fails before any container is touched"
before=$(all_ids)
sed 's/          securityContext:/          resources: {limits: {cpu: "1"}}\n          securityContext:/' "$tmp/app.yaml" >"$tmp/bad.yaml"
"$kctl" rollout -f "$tmp/bad.yaml" >"$tmp/out" 2>&1 && fail "unsupported field accepted"
grep -q "resources" "$tmp/out" && grep -q "bad.yaml:[0-9]" "$tmp/out" || fail "unsupported field: message '$(cat "$tmp/out")'"
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:no-such-tag" >"$tmp/out" 2>&1 && fail "missing tag accepted"
grep -q "no-such-tag" "$tmp/out" || fail "missing tag: message '$(cat "$tmp/out")'"
"$kctl" rollout -f "$tmp/app.yaml" --image "127.0.0.1:1/kctl-demo:v2" >"$tmp/out" 2>&1 && fail "unreachable registry accepted"
grep -q "127.0.0.1:1" "$tmp/out" || fail "unreachable registry: message '$(cat "$tmp/out")'"
[ "$(all_ids)" = "$before" ] || fail "bad input touched containers"
answer | grep -q "Version 1" || fail "bad input: GET / says '$(answer)'"

echo "== dry run changes nothing"
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:v3" --dry-run >"$tmp/out" 2>&1 || fail "dry run"
grep -q "dry run" "$tmp/out" || fail "dry run output: $(cat "$tmp/out")"
[ "$(all_ids)" = "$before" ] || fail "dry run touched containers"

echo "== Recreate reaches v3"
sed 's/    type: RollingUpdate/    type: Recreate/; /    rollingUpdate:/d; /      maxSurge:/d; /      maxUnavailable:/d' "$tmp/app.yaml" >"$tmp/recreate.yaml"
"$kctl" rollout -f "$tmp/recreate.yaml" --image "$reg:v3" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "recreate"; }
[ "$(running_digests)" = "$d3" ] || fail "recreate: running digests '$(running_digests)'"
answer | grep -q "Version 3" || fail "recreate: GET / says '$(answer)'"

echo "== blue-green reaches v2 with no failed requests"
sed 's/    kubernetes.io\/change-cause: "demo app v1"/    kubernetes.io\/change-cause: "blue-green"\n    io.kctl.strategy: blue-green/' "$tmp/app.yaml" >"$tmp/bg.yaml"
probe_start 12s
"$kctl" rollout -f "$tmp/bg.yaml" --image "$reg:v2" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "blue-green"; }
probe_check "blue-green"
[ "$(running_digests)" = "$d2" ] || fail "blue-green: running digests '$(running_digests)'"
answer | grep -q "Version 2" || fail "blue-green: GET / says '$(answer)'"

echo "== a second rollout of the same app at once is refused"
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:v1" --timeout 60s >"$tmp/first" 2>&1 &
first=$!
sleep 0.3
"$kctl" rollout -f "$tmp/app.yaml" --image "$reg:v3" --timeout 60s >"$tmp/second" 2>&1 && fail "concurrent rollout accepted"
grep -q "locked by another kctl" "$tmp/second" || fail "concurrent: message '$(cat "$tmp/second")'"
wait "$first" || fail "first of two concurrent rollouts"

echo "rollout: $fails failure(s)"
[ "$fails" = 0 ]
