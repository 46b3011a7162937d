#!/usr/bin/env bash
# kube suite: a real kubectl against the fake apiserver, to keep the fake
# honest: get, set image, rollout status/history/undo, annotate, RBAC-ish
# refusals, client-certificate auth, and exec where kubectl speaks WebSocket
# (1.29+; Debian's 1.20 execs over SPDY, which the fake does not speak). Also
# raw-API checks kubectl does not reach: watch bookmarks and timeout, 409 on a
# stale PUT, JSON merge patch. Skips (77) without kubectl or DOCKER_HOST.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
KUBECTL=${KCTL_KUBECTL:-kubectl}
command -v "$KUBECTL" >/dev/null || { echo "no kubectl: skipping"; exit 77; }
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-kubectl.XXXXXX)
img=kctl-kubetest-kubectl/busybox
cleanup() {
	"$fake/stop.sh" "$work" || true
	"$(dirname "$0")/image.sh" remove "$img" || true
	rm -rf "$work"
}
trap cleanup EXIT
"$(dirname "$0")/image.sh" build "$img"
"$fake/start.sh" "$work" --id "kctl-kube-kubectl-$$" >/dev/null
export KUBECONFIG=$work/kubeconfig
k() { "$KUBECTL" --cache-dir "$work/cache" "$@"; }
jp() { k get deployment web -o "jsonpath=$1"; }

deployment_json web "$img:v1" 3 | k create --validate=false -f - >/dev/null
k rollout status deployment/web --timeout=120s
k get deployments | tee "$work/get.txt"
grep -Eq '^web +3/3 +3 +3 ' "$work/get.txt" || fail "kubectl get deployments"

k set image deployment/web "app=$img:v2"
k annotate deployment/web kubernetes.io/change-cause="to v2"
k rollout status deployment/web --timeout=120s
[ "$(jp '{.spec.template.spec.containers[0].image}')" = "$img:v2" ] || fail "set image"
[ "$(jp '{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 2 ] || fail "revision 2"
imgs=$(docker ps --filter "label=io.kctl.fake=kctl-kube-kubectl-$$" --format '{{.Image}}' | sort -u)
[ "$imgs" = "$img:v2" ] || fail "containers after rollout run: $imgs"
k rollout history deployment/web | tee "$work/hist.txt"
grep -Eq '^2 +to v2' "$work/hist.txt" || fail "rollout history change-cause"

k rollout undo deployment/web
k rollout status deployment/web --timeout=120s
[ "$(jp '{.spec.template.spec.containers[0].image}')" = "$img:v1" ] || fail "undo image"
[ "$(jp '{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 3 ] || fail "revision 3"
[ "$(k get rs --no-headers | wc -l)" = 2 ] || fail "undo must reuse the v1 ReplicaSet"
sleep 1
imgs=$(docker ps --filter "label=io.kctl.fake=kctl-kube-kubectl-$$" --format '{{.Image}}' | sort -u)
[ "$imgs" = "$img:v1" ] || fail "containers after undo run: $imgs"

# Auth: client certificate works; a read-only user can get but not patch.
k --context cert get deployment web >/dev/null || fail "client certificate auth"
k --context readonly get deployment web >/dev/null || fail "readonly get"
if k --context readonly set image deployment/web "app=$img:v2" 2>"$work/err.txt"; then
	fail "readonly user could patch"
fi
grep -q "forbidden" "$work/err.txt" || fail "no Forbidden: $(cat "$work/err.txt")"

pod=$(k get pods -o jsonpath='{.items[0].metadata.name}')
k annotate pod "$pod" io.kctl.patch/last=test1 >/dev/null
[ "$(k get pod "$pod" -o jsonpath='{.metadata.annotations.io\.kctl\.patch/last}')" = test1 ] ||
	fail "pod annotation"

minor=$(k version --client -o json | "$py" -c \
	'import json,sys; print(int(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+")))')
if [ "$minor" -ge 29 ]; then
	[ "$(k exec "$pod" -- cat /etc/kctl-version)" = v1 ] || fail "kubectl exec"
	set +e
	echo in | k exec -i "$pod" -- sh -c 'cat; exit 3' >"$work/exec.txt" 2>&1
	rc=$?
	set -e
	[ "$rc" = 3 ] || fail "kubectl exec exit code $rc"
	grep -q '^in$' "$work/exec.txt" || fail "kubectl exec stdin"
else
	echo "kubectl 1.$minor execs over SPDY: exec not tested with it"
fi

# Raw API: a stale resourceVersion on PUT is a 409 Conflict.
api "$work" GET /apis/apps/v1/namespaces/default/deployments/web >"$work/d.json"
stale=$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1]));
d["metadata"]["resourceVersion"]="1"; print(json.dumps(d))' "$work/d.json")
code=$(curl -s -o "$work/put.json" -w '%{http_code}' --cacert "$work/ca.crt" \
	-H "Authorization: Bearer kctl-test-token" -H "Content-Type: application/json" -X PUT \
	--data "$stale" "https://127.0.0.1:$(cat "$work/port")/apis/apps/v1/namespaces/default/deployments/web")
[ "$code" = 409 ] || fail "stale PUT gave $code"
grep -q '"reason": "Conflict"' "$work/put.json" || fail "409 without reason Conflict"

# JSON merge patch scales down; the watch sees it, with bookmarks, and ends on time.
rv=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' "$work/d.json")
curl -sS -N --max-time 20 --cacert "$work/ca.crt" -H "Authorization: Bearer kctl-test-token" \
	"https://127.0.0.1:$(cat "$work/port")/apis/apps/v1/namespaces/default/deployments?watch=1&resourceVersion=$rv&allowWatchBookmarks=true&timeoutSeconds=4" \
	>"$work/watch.txt" &
watcher=$!
sleep 0.5
curl -sS --fail-with-body --cacert "$work/ca.crt" -H "Authorization: Bearer kctl-test-token" \
	-H "Content-Type: application/merge-patch+json" -X PATCH --data '{"spec":{"replicas":2}}' \
	"https://127.0.0.1:$(cat "$work/port")/apis/apps/v1/namespaces/default/deployments/web" >/dev/null
start=$(date +%s)
wait "$watcher" || fail "watch stream failed"
[ $(($(date +%s) - start)) -le 8 ] || fail "watch did not honour timeoutSeconds"
"$py" - "$work/watch.txt" <<'PY' || fail "watch events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
types = {e["type"] for e in ev}
assert "BOOKMARK" in types, types
mods = [e for e in ev if e["type"] == "MODIFIED"]
assert any(e["object"]["spec"]["replicas"] == 2 for e in mods), "no MODIFIED with replicas 2"
assert all(int(e["object"]["metadata"]["resourceVersion"]) > 0 for e in ev)
PY
k rollout status deployment/web --timeout=60s
[ "$(k get pods --no-headers | wc -l)" = 2 ] || fail "scale down by merge patch"
# A broken image (strategic merge patch with a directive, as kctl sends):
# the new pod cannot start, the progress deadline passes, kubectl reports it,
# the old replicas keep serving, and undo recovers.
curl -sS --fail-with-body --cacert "$work/ca.crt" -H "Authorization: Bearer kctl-test-token" \
	-H "Content-Type: application/strategic-merge-patch+json" -X PATCH --data \
	'{"spec":{"progressDeadlineSeconds":4,"template":{"spec":{"$setElementOrder/containers":[{"name":"app"}],"containers":[{"name":"app","image":"'"$img"':missing"}]}}}}' \
	"https://127.0.0.1:$(cat "$work/port")/apis/apps/v1/namespaces/default/deployments/web" >/dev/null
set +e
k rollout status deployment/web --timeout=90s >"$work/broken.txt" 2>&1
rc=$?
set -e
cat "$work/broken.txt"
[ "$rc" != 0 ] || fail "rollout of a broken image succeeded"
grep -q "exceeded its progress deadline" "$work/broken.txt" || fail "no progress deadline error"
k get pods | tee "$work/pods.txt"
grep -q ErrImagePull "$work/pods.txt" || fail "no ErrImagePull pod"
[ "$(jp '{.status.availableReplicas}')" = 2 ] || fail "old replicas stopped serving"
k rollout undo deployment/web
k rollout status deployment/web --timeout=60s
[ "$(jp '{.spec.template.spec.containers[0].image}')" = "$img:v1" ] || fail "undo after broken"
echo "kubectl against the fake: all checks passed"
