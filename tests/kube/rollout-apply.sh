#!/usr/bin/env bash
# kube suite: kctl rollout -f on Kubernetes is a three-way apply, as kubectl apply:
#  - apply a manifest (no replicas) in a namespace given with -n; someone scales the
#    Deployment and adds an annotation through the API; re-apply an edited manifest
#    (env value changed, a label removed) -> replicas and the foreign annotation stay,
#    the label is gone, the env changed, last-applied-configuration is the new
#    manifest (image pinned), readable by `kubectl apply view-last-applied`;
#  - --dry-run with --image and with -f (text and -o json) prints the planned change
#    and leaves resourceVersion, generation, images and pods alone; a dry-run create
#    creates nothing;
#  - --namespace works too, and the Deployment is not in "default";
#  - with kubectl: `kubectl apply` over kctl's annotation and kctl over kubectl's
#    each delete/restore the label and keep the scaled replicas.
# $1: the kctl binary, $2: kube-yaml2json. Needs DOCKER_HOST (hack/engine up) and the registry on 127.0.0.1:5000.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
kctl=$1
yaml2json=$2
source "$(dirname "$0")/lib.sh"
curl -sf http://127.0.0.1:5000/v2/ >/dev/null || { echo "no registry on 127.0.0.1:5000: skipping"; exit 77; }
work=$(mktemp -d /tmp/kctl-kube-apply.XXXXXX)
id=kctl-kube-apply-$$
img=127.0.0.1:5000/kctl-kubetest-apply-$$/busybox
ns=kctl-apply
setup_fake_image
for t in v1 v2; do docker push -q "$img:$t" >/dev/null; done
digest() { registry_digest "$img" "$1"; }
d1=$(digest v1) d2=$(digest v2)
[ -n "$d1" ] && [ -n "$d2" ] || fail "registry digests"

"$fake/start.sh" "$work/f" --id "$id" >/dev/null
kc=$work/f/kubeconfig
unset KUBECONFIG
k() { "$kctl" rollout --kubeconfig "$kc" "$@"; }
dpath=/apis/apps/v1/namespaces/$ns/deployments/ap
# jget EXPR: a Python expression over the live Deployment d.
jget() { api "$work/f" GET "$dpath" |
	"$py" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
# A JSON merge patch straight to the API, as another client would send it.
merge_patch() {
	curl -sS --fail-with-body --cacert "$work/f/ca.crt" -H "Authorization: Bearer kctl-test-token" \
		-X PATCH -H "Content-Type: application/merge-patch+json" --data "$2" \
		"https://127.0.0.1:$(cat "$work/f/port")$1" >/dev/null
}
pod_images() { docker ps -q --filter "label=io.kctl.fake=$id" | xargs -r docker inspect \
	--format '{{.Config.Image}}' | sort -u | tr '\n' ' '; }
# manifest GREETING [extra metadata.labels line]
manifest() {
	cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ap
  labels:
    app: ap
$2
spec:
  progressDeadlineSeconds: 90
  selector:
    matchLabels: {app: ap}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: ap}
    spec:
      containers:
      - name: app
        image: $img:v1
        env:
        - {name: GREETING, value: $1}
        readinessProbe:
          exec: {command: [cat, /etc/kctl-version]}
          periodSeconds: 1
YAML
}
manifest hello "    tier: web" >"$work/m1.yaml"
manifest bye "" >"$work/m2.yaml"
# What last-applied-configuration must hold for a manifest: it, with the image pinned.
applied() { "$yaml2json" "$1" | "$py" -c '
import json, sys
doc = json.load(sys.stdin)
doc["spec"]["template"]["spec"]["containers"][0]["image"] = sys.argv[1]
doc["metadata"]["namespace"] = sys.argv[2]  # as kubectl, the namespace applied to
print(json.dumps(doc, sort_keys=True))' "${img}@$d1" "$ns"; }

echo "== apply creates (in -n $ns), with last-applied-configuration"
k deployment/ap -f "$work/m1.yaml" --image "$img:v1" -n "$ns" --timeout 120s
[ "$(jget 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = "${img}@$d1" ] ||
	fail "v1 not pinned by digest"
if api "$work/f" GET /apis/apps/v1/namespaces/default/deployments/ap >/dev/null 2>&1; then
	fail "-n ignored: the deployment is in default"
fi
[ "$(jget 'json.dumps(json.loads(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]), sort_keys=True)')" = "$(applied "$work/m1.yaml")" ] ||
	fail "last-applied after create: $(jget 'd["metadata"]["annotations"]')"
[ "$(jget 'd["spec"]["replicas"]')" = 1 ] || fail "default replicas"

echo "== someone scales it to 2 and annotates it"
merge_patch "$dpath" '{"spec":{"replicas":2},"metadata":{"annotations":{"team.example/owner":"ops"}}}'
k status deployment/ap --namespace "$ns" --timeout 120s

echo "== re-apply an edited manifest (env changed, label tier removed)"
k deployment/ap -f "$work/m2.yaml" --image "$img:v1" -n "$ns" --timeout 120s 2>&1 | tee "$work/apply2.out"
grep -q "deployment ap configured" "$work/apply2.out" || fail "no 'configured'"
[ "$(jget 'd["spec"]["replicas"]')" = 2 ] || fail "scaled replicas lost: $(jget 'd["spec"]')"
[ "$(jget 'd["metadata"]["annotations"].get("team.example/owner")')" = ops ] ||
	fail "foreign annotation lost: $(jget 'd["metadata"]["annotations"]')"
[ "$(jget 'd["metadata"]["labels"]')" = "{'app': 'ap'}" ] ||
	fail "removed label kept: $(jget 'd["metadata"]["labels"]')"
[ "$(jget 'd["spec"]["template"]["spec"]["containers"][0]["env"]')" = "[{'name': 'GREETING', 'value': 'bye'}]" ] ||
	fail "env: $(jget 'd["spec"]["template"]["spec"]["containers"][0]')"
[ "$(jget 'json.dumps(json.loads(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]), sort_keys=True)')" = "$(applied "$work/m2.yaml")" ] ||
	fail "last-applied after re-apply"
[ "$(jget 'd["metadata"]["annotations"]["kubernetes.io/change-cause"]')" = "kctl rollout deployment/ap --image $img:v1 -f $work/m2.yaml" ] ||
	fail "change-cause"
[ "$(jget 'd["status"]["updatedReplicas"], d["status"]["availableReplicas"]')" = "(2, 2)" ] ||
	fail "re-apply not complete: $(jget 'd["status"]')"

echo "== the same apply again changes nothing"
gen=$(jget 'd["metadata"]["generation"]')
k deployment/ap -f "$work/m2.yaml" --image "$img:v1" -n "$ns" --timeout 60s 2>&1 | tee "$work/apply3.out"
grep -q "deployment ap unchanged" "$work/apply3.out" || fail "no 'unchanged'"
[ "$(jget 'd["metadata"]["generation"]')" = "$gen" ] || fail "a no-op apply bumped the generation"

KUBECTL=${KCTL_KUBECTL:-kubectl}
if command -v "$KUBECTL" >/dev/null; then
	echo "== kubectl apply view-last-applied reads it"
	KUBECONFIG=$kc "$KUBECTL" --cache-dir "$work/cache" apply view-last-applied deployment/ap \
		-n "$ns" -o json >"$work/view.json" || fail "kubectl apply view-last-applied"
	[ "$("$py" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' \
		"$work/view.json")" = "$(applied "$work/m2.yaml")" ] || fail "view-last-applied: $(cat "$work/view.json")"
else
	echo "no kubectl: view-last-applied not checked"
fi

state() { jget 'd["metadata"]["resourceVersion"], d["metadata"]["generation"], [c["image"] for c in d["spec"]["template"]["spec"]["containers"]]'; }
before=$(state)
pods_before=$(pod_images)
echo "== --dry-run --image v2"
k deployment/ap --image "$img:v2" --dry-run -n "$ns" >"$work/dry1.out"
cat "$work/dry1.out"
grep -qF "container app: image ${img}@$d1 -> ${img}@$d2" "$work/dry1.out" || fail "dry run --image plan"
grep -q "dry run: nothing was changed" "$work/dry1.out" || fail "dry run --image note"
[ "$(state)" = "$before" ] || fail "dry run --image changed the deployment: $(state) vs $before"

echo "== --dry-run -f (v2, -o json)"
k deployment/ap -f "$work/m2.yaml" --image "$img:v2" --dry-run -n "$ns" -o json >"$work/dry2.json"
cat "$work/dry2.json"
"$py" - "$work/dry2.json" "${img}@$d1" "${img}@$d2" <<'PY' || fail "dry run -f json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["dryRun"] is True and r["changed"] is True and r["created"] is False, r
assert r["namespace"] == "kctl-apply", r
assert r["images"] == [{"container": "app", "from": sys.argv[2], "to": sys.argv[3],
                        "changed": True}], r["images"]
PY
[ "$(state)" = "$before" ] || fail "dry run -f changed the deployment: $(state) vs $before"
[ "$(jget 'json.loads(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])["spec"]["template"]["spec"]["containers"][0]["image"]')" = "${img}@$d1" ] ||
	fail "dry run -f rewrote last-applied"

echo "== --dry-run -f of a new Deployment creates nothing"
sed 's/name: ap$/name: ap-new/' "$work/m2.yaml" >"$work/new.yaml"
k deployment/ap-new -f "$work/new.yaml" --dry-run -n "$ns" >"$work/dry3.out"
cat "$work/dry3.out"
grep -q "deployment.apps/ap-new created (dry run)" "$work/dry3.out" || fail "dry run create plan"
grep -qF "container app: image ${img}@$d1 (new)" "$work/dry3.out" || fail "dry run create image (pinned)"
if api "$work/f" GET "/apis/apps/v1/namespaces/$ns/deployments/ap-new" >/dev/null 2>&1; then
	fail "dry run created the deployment"
fi
sleep 1
[ "$(pod_images)" = "$pods_before" ] || fail "pods changed by the dry runs: $(pod_images)"
[ "$(state)" = "$before" ] || fail "deployment changed: $(state) vs $before"

if command -v "$KUBECTL" >/dev/null; then
	echo "== kubectl apply reads kctl's annotation, and kctl reads kubectl's"
	sed "s|image: $img:v1|image: ${img}@$d1|" "$work/m1.yaml" >"$work/m1-pinned.yaml"
	KUBECONFIG=$kc "$KUBECTL" --cache-dir "$work/cache" apply --validate=false -n "$ns" \
		-f "$work/m1-pinned.yaml" || fail "kubectl apply"
	[ "$(jget 'd["metadata"]["labels"].get("tier"), d["spec"]["replicas"], d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]')" = "('web', 2, 'hello')" ] ||
		fail "kubectl apply over kctl's: $(jget 'd["metadata"], d["spec"]')"
	k deployment/ap -f "$work/m2.yaml" --image "$img:v1" -n "$ns" --timeout 120s ||
		fail "kctl apply over kubectl's"
	[ "$(jget 'd["metadata"]["labels"].get("tier"), d["spec"]["replicas"], d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]')" = "(None, 2, 'bye')" ] ||
		fail "kctl apply over kubectl's: $(jget 'd["metadata"], d["spec"]')"
fi
echo "PASS"
