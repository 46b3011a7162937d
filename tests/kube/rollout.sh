#!/usr/bin/env bash
# kube suite: kctl rollout against the fake apiserver. $1: the kctl binary.
#  - -f MANIFEST creates a 3-replica Deployment at v1 (tag pinned to its digest);
#  - --image v2 completes (watch), history shows both digests, undo returns to v1;
#  - a missing tag changes nothing; -f applies to an existing Deployment;
#  - a broken image (readiness exec probe fails) misses progressDeadlineSeconds and
#    is undone automatically (exit 1, template back at v1, pods v1);
#  - token, client-certificate and exec-plugin auth (plugin run once: cached);
#    a forbidden user is refused; a server certificate from an unknown CA is refused
#    with a clear error; in-cluster config from a fake service-account directory,
#    token re-read when it rotates.
# Needs DOCKER_HOST (hack/engine up) and the registry on 127.0.0.1:5000.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
kctl=$1
source "$(dirname "$0")/lib.sh"
curl -sf http://127.0.0.1:5000/v2/ >/dev/null || { echo "no registry on 127.0.0.1:5000: skipping"; exit 77; }
work=$(mktemp -d /tmp/kctl-kube-rollout.XXXXXX)
id=kctl-kube-rollout-$$
img=127.0.0.1:5000/kctl-kubetest-rollout-$$/busybox
cleanup() {
	docker rmi -f --no-prune "$img:broken" >/dev/null 2>&1 || true
	cleanup_fake_image
}
trap cleanup EXIT
"$(dirname "$0")/image.sh" build "$img"
# broken: v1 without /etc/kctl-version, so the readiness probe (cat it) never passes.
mkdir "$work/broken"
printf 'FROM %s\nRUN ["/bin/rm", "/etc/kctl-version"]\n' "$img:v1" >"$work/broken/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$img:broken" "$work/broken" >/dev/null
for t in v1 v2 broken; do docker push -q "$img:$t" >/dev/null; done
digest() { registry_digest "$img" "$1"; }
d1=$(digest v1) d2=$(digest v2)
[ -n "$d1" ] && [ -n "$d2" ] || fail "registry digests"

"$fake/start.sh" "$work/f" --id "$id" >/dev/null
kc=$work/f/kubeconfig
unset KUBECONFIG
k() { "$kctl" rollout --kubeconfig "$kc" "$@"; }
jget() { api "$work/f" GET /apis/apps/v1/namespaces/default/deployments/roll |
	"$py" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
# What the running pod containers were started from (docker ps drops the digest).
pod_images() { docker ps -q --filter "label=io.kctl.fake=$id" | xargs -r docker inspect \
	--format '{{.Config.Image}}' | sort -u | tr '\n' ' '; }

cat >"$work/roll.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: roll
spec:
  replicas: 3
  progressDeadlineSeconds: 90
  selector:
    matchLabels: {app: roll}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: roll}
    spec:
      containers:
      - name: app
        image: $img:v1
        readinessProbe:
          exec: {command: [cat, /etc/kctl-version]}
          periodSeconds: 1
YAML

echo "== create from a manifest (v1)"
k -f "$work/roll.yaml" --image "$img:v1" --timeout 120s
[ "$(jget 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = "${img}@$d1" ] ||
	fail "v1 not pinned by digest"

echo "== v1 -> v2"
k deployment/roll --image "$img:v2" --timeout 120s | tee "$work/out.txt"
grep -q "rolled out" "$work/out.txt" || fail "v2 rollout output"
[ "$(jget 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = "${img}@$d2" ] ||
	fail "v2 not pinned"
[ "$(jget 'd["status"]["updatedReplicas"], d["status"]["availableReplicas"], d["status"]["replicas"]')" = "(3, 3, 3)" ] ||
	fail "v2 not complete: $(jget 'd["status"]')"
[ "$(jget 'd["metadata"]["annotations"]["kubernetes.io/change-cause"]')" = "kctl rollout deployment/roll --image $img:v2" ] ||
	fail "change-cause"
sleep 1
[ "$(pod_images)" = "${img}@$d2 " ] || fail "pods after v2 run: $(pod_images)"
k status deployment/roll --timeout 30s || fail "status after v2"

echo "== history"
k history deployment/roll | tee "$work/hist.txt"
grep -q "$d1" "$work/hist.txt" && grep -q "$d2" "$work/hist.txt" || fail "history digests"
k history deployment/roll -o json >"$work/hist.json"
"$py" - "$work/hist.json" "$d1" "$d2" <<'PY' || fail "history json"
import json, sys
h = json.load(open(sys.argv[1]))
revs = {r["revision"]: r for r in h["revisions"]}
assert sys.argv[2] in revs[1]["image"] and sys.argv[3] in revs[2]["image"], revs
assert revs[2]["active"] and not revs[1]["active"], revs
PY

echo "== undo"
k undo deployment/roll --timeout 120s
[ "$(jget 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = "${img}@$d1" ] ||
	fail "undo image"
[ "$(jget 'd["metadata"]["annotations"]["deployment.kubernetes.io/revision"]')" = 3 ] ||
	fail "undo revision"
[ "$(jget '"pod-template-hash" in d["spec"]["template"]["metadata"]["labels"]')" = False ] ||
	fail "pod-template-hash leaked into the template"
sleep 1
[ "$(pod_images)" = "${img}@$d1 " ] || fail "pods after undo run: $(pod_images)"

echo "== a tag that does not exist fails before anything is touched"
gen=$(jget 'd["metadata"]["generation"]')
if k deployment/roll --image "$img:nope" 2>"$work/nope.err"; then fail "missing tag accepted"; fi
cat "$work/nope.err"
grep -qi "manifest unknown" "$work/nope.err" || fail "missing tag message"
[ "$(jget 'd["metadata"]["generation"]')" = "$gen" ] || fail "missing tag changed the deployment"

echo "== -f on an existing Deployment applies to it (a short deadline; same template)"
sed 's/progressDeadlineSeconds: 90/progressDeadlineSeconds: 20/' "$work/roll.yaml" >"$work/short.yaml"
k -f "$work/short.yaml" --image "$img:v1" --timeout 60s 2>&1 | tee "$work/replace.out"
grep -q "deployment roll configured" "$work/replace.out" || fail "apply"
[ "$(jget 'd["spec"]["progressDeadlineSeconds"]')" = 20 ] || fail "-f did not apply"
[ "$(jget 'd["metadata"]["annotations"]["deployment.kubernetes.io/revision"]')" = 3 ] ||
	fail "same template must stay revision 3"
[ "$(jget 'd["metadata"]["annotations"]["kubernetes.io/change-cause"]')" = "kctl rollout deployment/roll --image $img:v1 -f $work/short.yaml" ] ||
	fail "-f change-cause"


echo "== broken image: undone after its deadline"
set +e
k deployment/roll --image "$img:broken" >"$work/broken.out" 2>"$work/broken.err"
rc=$?
set -e
cat "$work/broken.out" "$work/broken.err"
[ "$rc" = 1 ] || fail "broken rollout exit $rc"
grep -q "exceeded its progress deadline" "$work/broken.err" || fail "no deadline message"
grep -q "rolled back to revision 3" "$work/broken.err" || fail "no rollback message"
grep -q "revision 3 restored as revision 5" "$work/broken.out" || fail "no result line"
[ "$(jget 'd["spec"]["template"]["spec"]["containers"][0]["image"]')" = "${img}@$d1" ] ||
	fail "not undone"
k status deployment/roll --timeout 60s || fail "status after auto-undo"
sleep 1
[ "$(pod_images)" = "${img}@$d1 " ] || fail "pods after auto-undo run: $(pod_images)"

echo "== auth: token, client certificate, exec plugin; forbidden; unknown CA"
k history deployment/roll --context token >/dev/null || fail "token auth"
# -v logs each request; the bearer token never appears.
k history deployment/roll --context token -v >/dev/null 2>"$work/v.err" || fail "-v"
grep -q "Authorization: Bearer <redacted>" "$work/v.err" || fail "-v does not log requests"
if grep -q kctl-test-token "$work/v.err"; then fail "-v logged the token"; fi
k history deployment/roll --context cert >/dev/null || fail "client-certificate auth"
set +e
k history deployment/roll --context forbidden >/dev/null 2>"$work/forb.err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "403" "$work/forb.err" || fail "forbidden user: $rc $(cat "$work/forb.err")"

cat >"$work/plugin.sh" <<'PLUG'
#!/bin/sh
# An exec credential plugin: checks what kubectl passes, counts its runs.
echo run >>"$PLUGIN_COUNT"
case $KUBERNETES_EXEC_INFO in *'"kind":"ExecCredential"'*) ;; *) echo "bad exec info" >&2; exit 1;; esac
[ "$1" = --flag ] || { echo "args not passed" >&2; exit 1; }
cat <<JSON
{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
 "status":{"token":"kctl-test-token","expirationTimestamp":"2099-01-01T00:00:00Z"}}
JSON
PLUG
chmod +x "$work/plugin.sh"
port=$(cat "$work/f/port")
cat >"$work/exec.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:$port", certificate-authority: f/ca.crt}
users:
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: $work/plugin.sh
      args: [--flag]
      env: [{name: PLUGIN_COUNT, value: $work/plugin.count}]
      interactiveMode: Never
contexts:
- name: plugin
  context: {cluster: fake, user: plugin}
- name: other-ca
  context: {cluster: other, user: plugin}
- {name: missing-ca, context: {cluster: fake-other, user: plugin}}
current-context: plugin
KC
cat >"$work/other.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://127.0.0.1:$port", certificate-authority: f/other-ca.crt}
KC
# KUBECONFIG with two files: contexts in the first, the "other" cluster in the second.
KUBECONFIG=$work/exec.kubeconfig:$work/other.kubeconfig "$kctl" rollout status deployment/roll \
	--engine kube --timeout 30s || fail "exec plugin auth"
[ "$(wc -l <"$work/plugin.count")" = 1 ] || fail "plugin ran $(wc -l <"$work/plugin.count") times (not cached)"
set +e
KUBECONFIG=$work/exec.kubeconfig:$work/other.kubeconfig "$kctl" rollout history deployment/roll \
	--engine kube --context other-ca >/dev/null 2>"$work/ca.err"
rc=$?
set -e
cat "$work/ca.err"
[ "$rc" = 1 ] && grep -q "not trusted" "$work/ca.err" || fail "unknown CA not refused clearly"

# An exec plugin that answers with a client certificate instead of a token.
cat >"$work/certplugin.sh" <<PLUG
#!/bin/sh
"$py" -c 'import json,sys; print(json.dumps({"apiVersion":"client.authentication.k8s.io/v1",
  "kind":"ExecCredential","status":{"clientCertificateData":open(sys.argv[1]).read(),
  "clientKeyData":open(sys.argv[2]).read()}}))' "$work/f/client.crt" "$work/f/client.key"
PLUG
chmod +x "$work/certplugin.sh"
cat >"$work/certplugin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:$port", certificate-authority: $work/f/ca.crt}
users:
- name: certplugin
  user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: $work/certplugin.sh}}
contexts:
- {name: certplugin, context: {cluster: fake, user: certplugin}}
current-context: certplugin
KC
"$kctl" rollout history deployment/roll --kubeconfig "$work/certplugin.kubeconfig" >/dev/null ||
	fail "exec plugin client certificate auth"

echo "== in-cluster"
sa=$work/sa
mkdir "$sa"
cp "$work/f/ca.crt" "$sa/ca.crt"
echo default >"$sa/namespace"
echo kctl-test-token >"$sa/token"
incluster() { env -u KUBECONFIG HOME="$work/nohome" KUBERNETES_SERVICE_HOST=127.0.0.1 \
	KUBERNETES_SERVICE_PORT="$port" KCTL_SERVICEACCOUNT_DIR="$sa" KCTL_ENGINE=kube \
	"$kctl" rollout "$@"; }
incluster history deployment/roll -o json >/dev/null || fail "in-cluster"
echo not-a-token >"$sa/token"
if incluster history deployment/roll >/dev/null 2>&1; then fail "rotated bad token accepted"; fi
echo kctl-test-token >"$sa/token"
incluster status deployment/roll --timeout 20s || fail "in-cluster after token rotation"
echo "PASS"
