#!/usr/bin/env bash
# kctl patch and kctl drift against the real engine and registry, with the demo
# images (hack/images): patch --to-image v1 -> v2 on 3 mutable replicas and
# drift equal to the engine's change list; a partial patch (journal names the
# failed replica, drift sees 2 states); drift --target v2 truthful; immutable
# replicas refused by patch and drift-free after an immutable v1 -> v2; --copy
# with --signal; the journal surviving SIGKILL at random points.
set -uo pipefail
kctl=${KCTL:-$KCTL_BUILD_DIR/shim/cli/kctl}
src=${KCTL_SOURCE_DIR:?}
reg=127.0.0.1:5000/kctl-demo
app=kctl-test-patch
port=18180
imm=kctl-test-patch-imm
imm_port=18181
fails=0

if [ -z "${DOCKER_HOST:-}" ]; then
	echo "SKIP: DOCKER_HOST is not set (run through hack/test)"
	exit 77
fi
tmp=$(mktemp -d)
export KCTL_STATE_DIR=$tmp/state

cleanup() {
	for a in "$app" "$imm"; do
		ids=$(docker ps -aq --filter "label=io.kctl.app=$a")
		[ -n "$ids" ] && docker rm -f $ids >/dev/null
	done
	ids=$(docker ps -aq --filter "label=io.kctl.patch-source")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
for a in "$app" "$imm"; do
	ids=$(docker ps -aq --filter "label=io.kctl.app=$a")
	[ -n "$ids" ] && docker rm -f $ids >/dev/null
done

fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}
ok() { echo "ok   $*"; }

manifest() { # NAME PORT FILE
	sed -e "s/kctl-demo\$/$1/; s/name: kctl-demo/name: $1/; s/app: kctl-demo/app: $1/" \
		-e "s/value: \"8080\"/value: \"$2\"/; s/containerPort: 8080/containerPort: $2/" \
		"$src/manifests/demo-app.yaml" >"$3"
}
ids() { docker ps -q --no-trunc --filter "label=io.kctl.app=$1" | sort; }
py() { python3 -c "$@"; }

manifest "$app" "$port" "$tmp/app.yaml"
manifest "$imm" "$imm_port" "$tmp/imm.yaml"

echo "== 3 mutable replicas of v1"
"$kctl" rollout -f "$tmp/app.yaml" --mode mutable --image "$reg:v1" --timeout 60s >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "deploy v1"; }
[ "$(ids "$app" | wc -l)" = 3 ] || fail "v1: not 3 replicas"
"$kctl" drift "$app" >"$tmp/out" 2>&1
rc=$?
[ $rc = 0 ] && ok "fresh replicas: no drift" || { cat "$tmp/out"; fail "fresh replicas: drift exit $rc"; }

echo "== patch --to-image v2"
"$kctl" patch "$app" --to-image "$reg:v2" --parallel 2 >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
[ $rc = 0 ] || fail "patch --to-image v2 exit $rc"
for id in $(ids "$app"); do
	v=$(docker exec "$id" cat /app/VERSION)
	[ "$v" = 2 ] || fail "replica ${id:0:12}: VERSION '$v'"
	docker exec "$id" test ! -e /app/static/old.txt || fail "${id:0:12}: old.txt not deleted"
	docker exec "$id" test -e /app/static/new-in-v2.txt || fail "${id:0:12}: new-in-v2.txt missing"
	m=$(docker exec "$id" stat -c %a /app/bin/hook.sh)
	[ "$m" = 755 ] || fail "${id:0:12}: hook.sh mode $m, want 755"
done
# Every replica answers Version 2 (the port is shared: ask enough times).
answered=0
for _ in $(seq 1 50); do
	a=$(curl -s --max-time 2 "http://127.0.0.1:$port/")
	case "$a" in *"Version 2"*) answered=$((answered + 1)) ;; *) [ -n "$a" ] && fail "answer '$a'" ;; esac
done
[ "$answered" -ge 45 ] && ok "GET / answers Version 2 ($answered/50)" || fail "only $answered/50 answers said Version 2"

echo "== drift after the patch equals the engine's change list"
"$kctl" drift "$app" -o json >"$tmp/drift.json" 2>"$tmp/err"
rc=$?
[ $rc = 3 ] || { cat "$tmp/err"; fail "drift after patch: exit $rc (want 3)"; }
for id in $(ids "$app"); do
	docker diff "$id" | awk '{print $2}' | grep -v '^/tmp' | sort >"$tmp/engine.txt"
	py "import json;r=[x for x in json.load(open('$tmp/drift.json'))['replicas'] if x['id']=='$id'][0]
print('\n'.join(sorted(f['path'] for f in r['files'])))" >"$tmp/kctl.txt"
	if [ -s "$tmp/engine.txt" ] && diff -u "$tmp/engine.txt" "$tmp/kctl.txt" >/dev/null; then
		ok "${id:0:12}: $(wc -l <"$tmp/kctl.txt") changed paths = docker diff"
	else
		diff -u "$tmp/engine.txt" "$tmp/kctl.txt"
		fail "${id:0:12}: drift paths differ from docker diff"
	fi
	want=$(docker exec "$id" sha256sum /app/VERSION | cut -d' ' -f1)
	got=$(py "import json;r=[x for x in json.load(open('$tmp/drift.json'))['replicas'] if x['id']=='$id'][0]
print([f['sha256'] for f in r['files'] if f['path']=='/app/VERSION'][0])")
	[ "$got" = "sha256:$want" ] || fail "${id:0:12}: /app/VERSION hash $got, sha256sum says $want"
done
states=$(py "import json;print(json.load(open('$tmp/drift.json'))['distinctStates'])")
[ "$states" = 1 ] && ok "3 patched replicas: 1 state" || fail "patched replicas: $states states"

echo "== drift --target v2 is truthful"
"$kctl" drift "$app" --target "$reg:v2" -o json >"$tmp/target.json" 2>"$tmp/err"
n=$(py "import json;print(sum(len(r['targetDiff']) for r in json.load(open('$tmp/target.json'))['replicas']))")
[ "$n" = 0 ] && ok "patched replicas match v2 (0 differences)" || { cat "$tmp/target.json"; fail "$n differences from v2 after patch"; }
# Against a fresh v2 container, the effective trees agree (content and modes).
fresh=$(docker create --network none "$reg:v2" /bin/true)
one=$(ids "$app" | head -1)
listing() { docker export "$1" | tar -tvf - app | awk '{print $1, $3, $6, $7, $8}' | sed 's/ *$//' | sort; }
docker export "$fresh" | tar -xOf - app/VERSION >"$tmp/v2.VERSION"
if [ "$(listing "$fresh" | awk '{print $1, $3, $4, $5}')" = "$(listing "$one" | awk '{print $1, $3, $4, $5}')" ]; then
	ok "replica /app listing (modes, names, links) = fresh v2 container"
else
	diff <(listing "$fresh" | awk '{print $1, $3, $4, $5}') <(listing "$one" | awk '{print $1, $3, $4, $5}')
	fail "replica /app differs from a fresh v2 container"
fi
docker rm -f "$fresh" >/dev/null
# A change the patch did not make is reported against the target.
docker exec "$one" chmod 600 /app/static/index.html
"$kctl" drift "$app" --target "$reg:v2" -o json >"$tmp/target.json" 2>"$tmp/err"
got=$(py "import json;r=[x for x in json.load(open('$tmp/target.json'))['replicas'] if x['id']=='$one'][0]
print(' '.join(f['kind']+f['path'] for f in r['targetDiff']))")
[ "$got" = "M/app/static/index.html" ] && ok "a later chmod shows against v2 ($got)" || fail "target diff after chmod: '$got'"
docker exec "$one" chmod 644 /app/static/index.html

echo "== a patch failing on one replica is partial"
victim=$(ids "$app" | sed -n 2p)
victim_name=$(docker inspect -f '{{.Name}}' "$victim" | tr -d /)
docker exec "$victim" touch /tmp/marker
"$kctl" patch "$app" --exec 'test ! -e /tmp/marker && echo patched >/app/patched.txt' \
	--continue-on-error >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
[ $rc = 1 ] || fail "partial patch exit $rc (want 1)"
grep -q PARTIAL "$tmp/out" && ok "reported PARTIAL" || fail "output does not say PARTIAL"
"$kctl" patch log "$app" -o json >"$tmp/log.json" || fail "patch log"
last=$(py "import json;e=json.load(open('$tmp/log.json'))['entries'];p=e[-1]['patch_id']
print(' '.join(sorted(x['replica_name']+'='+x['outcome'] for x in e if x['patch_id']==p)))")
echo "     journal: $last"
case "$last" in *"$victim_name=failed"*) ok "journal names $victim_name as failed" ;; *) fail "journal: $last" ;; esac
[ "$(echo "$last" | tr ' ' '\n' | grep -c '=ok')" = 2 ] || fail "journal: not 2 ok replicas"
"$kctl" drift "$app" -o json >"$tmp/drift.json"
states=$(py "import json;print(json.load(open('$tmp/drift.json'))['distinctStates'])")
[ "$states" = 2 ] && ok "drift: 2 distinct states" || fail "drift: $states distinct states (want 2)"
# Without --continue-on-error the first failure stops the patch (replicas go
# in name order: make the first one fail).
first=$(docker ps --filter "label=io.kctl.app=$app" --format '{{.Names}}' | sort | head -1)
docker exec "$first" touch /tmp/marker-first
"$kctl" patch "$app" --exec 'test ! -e /tmp/marker-first' -o json >"$tmp/stop.json" 2>/dev/null
got=$(py "import json;r=json.load(open('$tmp/stop.json'));print(r['ok'],r['failed'],r['skipped'],[x['name'] for x in r['replicas'] if x['outcome']=='failed'][0])")
[ "$got" = "0 1 2 $first" ] && ok "stop at the first failure: $first failed, 2 skipped" || fail "stop at first failure: ok/failed/skipped/failed-name = $got"

echo "== --copy with --signal SIGHUP"
echo 7 >"$tmp/VERSION"
"$kctl" patch "$app" --copy "$tmp/VERSION:/app/VERSION" --signal SIGHUP --parallel 3 >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "patch --copy"; }
sleep 0.5
seven=0
for _ in $(seq 1 30); do
	curl -s --max-time 2 "http://127.0.0.1:$port/" | grep -q "Version 7" && seven=$((seven + 1))
done
[ "$seven" = 30 ] && ok "--copy + SIGHUP: Version 7 everywhere" || fail "--copy + SIGHUP: $seven/30 answers say Version 7"

echo "== --signal none: neither restart nor signal"
started() { docker ps --filter "label=io.kctl.app=$app" -q | sort | xargs docker inspect -f '{{.Id}} {{.State.StartedAt}}'; }
before=$(started)
"$kctl" patch "$app" --to-image "$reg:v3" --signal none --parallel 3 >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out"; fail "patch --to-image --signal none"; }
sleep 0.5
seven=0
for _ in $(seq 1 10); do
	curl -s --max-time 2 "http://127.0.0.1:$port/" | grep -q "Version 7" && seven=$((seven + 1))
done
files=$(docker ps --filter "label=io.kctl.app=$app" -q | xargs -I{} docker exec {} cat /app/VERSION | sort -u)
[ "$seven" = 10 ] && [ "$files" = 3 ] && [ "$(started)" = "$before" ] &&
	ok "--to-image --signal none: files say 3, the apps still answer 7, no restart" ||
	fail "--signal none: $seven/10 answers say 7, files '$files', restarted: $([ "$(started)" = "$before" ] && echo no || echo yes)"

echo "== immutable replicas: refused by patch, drift-free after v1 -> v2"
"$kctl" rollout -f "$tmp/imm.yaml" --image "$reg:v1" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "immutable v1"; }
"$kctl" patch "$imm" --exec true >"$tmp/out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "io.kctl.mode" "$tmp/out" && ok "patch refuses immutable replicas: $(cat "$tmp/out")" ||
	{ cat "$tmp/out"; fail "patch of immutable replicas: exit $rc"; }
"$kctl" rollout -f "$tmp/imm.yaml" --image "$reg:v2" --timeout 60s >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "immutable v2"; }
"$kctl" drift "$imm" >"$tmp/out" 2>&1
rc=$?
[ $rc = 0 ] && ok "immutable v2: no drift" || { cat "$tmp/out"; fail "immutable v2: drift exit $rc"; }

echo "== the journal survives SIGKILL"
"$kctl" patch log "$app" -o json >"$tmp/before.json" || fail "patch log before kills"
for i in $(seq 1 20); do
	"$kctl" patch "$app" --exec 'echo k' >"$tmp/kill.$i" 2>&1 &
	pid=$!
	sleep "0.$(( (RANDOM % 40) + 1 ))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
jfile="$KCTL_STATE_DIR/journal/$app.jsonl"
"$kctl" patch log "$app" -o json >"$tmp/after.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "patch log after kills"; }
py "
import json, re, sys, glob
lines = open('$jfile', 'rb').read().split(b'\n')
torn = lines.pop()  # after the last newline: '' or a torn tail
for n, l in enumerate(lines, 1):
    json.loads(l)  # every terminated line parses
entries = json.load(open('$tmp/after.json'))['entries']
have = {(e['patch_id'], e['replica_name'], e['outcome']) for e in entries}
reported = 0
for f in glob.glob('$tmp/kill.*'):
    out = open(f).read()
    m = re.search(r'patch (p-[0-9TZ]+-[0-9a-f]+):', out)
    for name, outcome in re.findall(r'^  ([^ :]+): (ok|failed) ', out, re.M):
        reported += 1
        if (m.group(1), name, outcome) not in have:
            sys.exit('reported but not journaled: %s %s %s' % (m.group(1), name, outcome))
print('     %d journal lines parse, %d reported steps all journaled, torn tail %d bytes' % (len(lines), reported, len(torn)))
" && ok "journal intact after 20 SIGKILLs" || fail "journal after SIGKILLs"

echo
[ "$fails" = 0 ] && echo "PASS test_patch" || echo "FAILED: $fails checks"
[ "$fails" = 0 ]
