#!/usr/bin/env bash
# kube suite: kctl compare on Kubernetes against the fake apiserver. $1: the kctl binary,
# $2: the kube-yaml2json helper.
#  1. The compare Job's own args (manifests/kctl-compare-job.yaml), run in-cluster as the
#     Job runs them (service-account dir, the Job's env), with the manifest, the probe's
#     Service URL and the output dir pointed at local stand-ins: exit 0, report.json
#     parses; immutable step ok with no drift in 1 state; mutable step with drift; API
#     calls counted; CPU and memory measured from the fake's metrics.k8s.io; the probe's
#     requests answered; no Deployment and no pod container left afterwards.
#  2. Against a fake without metrics.k8s.io: a version that does not resolve fails before
#     anything is touched (a leftover Deployment of the walk's name keeps its
#     resourceVersion); then a run without --probe-url replaces that leftover, and CPU,
#     memory and probe figures are null with notes saying why.
# Needs DOCKER_HOST (hack/engine up), the registry and kctl-demo:v1,v2 (hack/images).
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
curl -sf http://127.0.0.1:5000/v2/ >/dev/null || { echo "no registry on 127.0.0.1:5000: skipping"; exit 77; }
tags=$(curl -sf http://127.0.0.1:5000/v2/kctl-demo/tags/list || true)
case $tags in *'"v1"'*'"v2"'* | *'"v2"'*'"v1"'*) ;; *) echo "no kctl-demo:v1,v2 (hack/images): skipping"; exit 77 ;; esac
kctl=$1
y2j=$2
src=${KCTL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-compare.XXXXXX)
id=kctl-kube-compare-$$
ns=kcmp
svc_pid=
cleanup() {
	[ -z "$svc_pid" ] || kill "$svc_pid" 2>/dev/null || true
	"$fake/stop.sh" "$work/f" || true
	"$fake/stop.sh" "$work/g" || true
	rm -rf "$work"
}
trap cleanup EXIT
reg=127.0.0.1:5000/kctl-demo
unset KUBECONFIG KCTL_ENGINE

# The demo Deployment with 2 replicas (the Job's ConfigMap holds the same file).
sed 's/^  replicas: 3$/  replicas: 2/' "$src/manifests/demo-app.yaml" >"$work/demo.yaml"
grep -q '^  replicas: 2$' "$work/demo.yaml" || fail "demo-app.yaml has no 'replicas: 3' to lower"

# A stand-in for the demo Service: pods of the fake have no network, so the probe asks this.
"$py" - "$work/svc.port" <<'PY' &
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Hello, World!\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.request_queue_size = 512  # 100 new connections a second
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
svc_pid=$!
for _ in $(seq 1 50); do [ -f "$work/svc.port" ] && break; sleep 0.1; done
[ -f "$work/svc.port" ] || fail "the stand-in Service did not start"
svc=http://127.0.0.1:$(cat "$work/svc.port")/

# deployments DIR: the Deployment names in the test namespace.
deployments() {
	api "$1" GET "/apis/apps/v1/namespaces/$ns/deployments" |
		"$py" -c 'import json,sys; print(" ".join(d["metadata"]["name"] for d in json.load(sys.stdin)["items"]))'
}
# no_pods ID: the fake's pod containers are gone (removed in the background).
no_pods() {
	for _ in $(seq 1 60); do
		[ -z "$(docker ps -aq --filter "label=io.kctl.fake=$1")" ] && return 0
		sleep 0.5
	done
	fail "pod containers left: $(docker ps -a --filter "label=io.kctl.fake=$1" --format '{{.Names}}')"
}

echo "== 1. the compare Job's args, in-cluster, against the fake with metrics"
"$fake/start.sh" "$work/f" --id "$id" >/dev/null
port=$(cat "$work/f/port")
mkdir "$work/sa"
cp "$work/f/ca.crt" "$work/sa/ca.crt"
echo kctl-test-token >"$work/sa/token"
echo "$ns" >"$work/sa/namespace"
# The Job's args and env, NUL-separated, with the local stand-ins put in.
"$y2j" "$src/manifests/kctl-compare-job.yaml" | "$py" -c '
import json, sys
work, svc = sys.argv[1], sys.argv[2]
job = json.loads(sys.stdin.readline())
c = job["spec"]["template"]["spec"]["containers"][0]
args = c["args"]
subst = {"/etc/kctl/demo-app.yaml": work + "/demo.yaml", "/tmp/kctl-compare": work + "/out",
         "http://kctl-demo/": svc}
for k in subst:
    if k not in args:
        sys.exit("the Job no longer passes %s: update this test" % k)
env = {e["name"]: e["value"] for e in c.get("env", [])}
if env.get("KCTL_STATE_DIR", "").startswith("/tmp/"):
    env["KCTL_STATE_DIR"] = work + "/state"
out = ["%s=%s" % kv for kv in sorted(env.items())] + ["--"] + [subst.get(a, a) for a in args]
sys.stdout.write("\0".join(out) + "\0")
' "$work" "$svc" >"$work/job.args" || fail "reading the Job's args"
mapfile -d '' -t job <"$work/job.args"
envs=()
while [ "${job[0]}" != -- ]; do envs+=("${job[0]}"); job=("${job[@]:1}"); done
job=("${job[@]:1}")
echo "kctl ${job[*]}  (env: ${envs[*]})"
rc=0
env -u KUBECONFIG HOME="$work/nohome" KUBERNETES_SERVICE_HOST=127.0.0.1 \
	KUBERNETES_SERVICE_PORT="$port" KCTL_SERVICEACCOUNT_DIR="$work/sa" "${envs[@]}" \
	"$kctl" "${job[@]}" >"$work/job.json" 2>"$work/job.err" || rc=$?
cat "$work/job.err"
[ "$rc" = 0 ] || fail "compare (the Job's args) exited $rc"
cmp -s <("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"])' "$work/job.json") \
	<("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"])' "$work/out/report.json") ||
	fail "stdout JSON and report.json differ"
[ -s "$work/out/report.html" ] || fail "no report.html"
"$py" - "$work/out/report.json" "$svc" <<'PY' || fail "report (with metrics)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "kctl-compare-report/1", d["schema"]
assert d["engine"].startswith("kubernetes v"), d["engine"]
assert d["replicas"] == 2 and d["probe"]["url"] == sys.argv[2], (d["replicas"], d["probe"])
assert len(d["versions"]) == 2 and len(d["steps"]) == 1, d["steps"]
im, mu = d["steps"][0]["immutable"], d["steps"][0]["mutable"]
for name, r in (("immutable", im), ("mutable", mu)):
    assert r["outcome"] == "ok", (name, r["outcome"], r["error"], r["notes"])
    assert r["wall_ms"] > 0 and r["api"]["calls"] > 0 and r["api"]["bytes"] > 0, (name, r["api"])
    assert r["cpu_seconds"] is not None and r["cpu_seconds"] >= 0, (name, r["cpu_seconds"], r["notes"])
    assert r["peak_memory_bytes"] and r["peak_memory_bytes"] > 0, (name, r["peak_memory_bytes"])
    # Measured: the stand-in answers most requests (it is slow Python on a busy machine).
    p = r["probe"]
    assert p["requests"] > 0 and len(p["samples"]) == p["requests"], (name, p["requests"])
    assert p["failures"] is not None and p["failures"] < p["requests"] / 2, (name, p["failures"])
    assert r["image_bytes_pulled"] is None and r["writable_bytes"] == [], name
    assert any("not measured" in n for n in r["notes"]), (name, r["notes"])
    assert len(r["drift"]["replicas"]) == 2, (name, r["drift"])
files = lambda r: sum(x["added"] + x["changed"] + x["deleted"] for x in r["drift"]["replicas"])
assert files(im) == 0 and im["drift"]["distinct_states"] == 1, im["drift"]
assert files(mu) > 0, mu["drift"]
assert [p["name"] for p in im["phases"]] == ["resolve", "patch", "ready"], im["phases"]
assert all(x["replica"].startswith("kctl-demo-immutable-") for x in im["drift"]["replicas"])
assert all(x["replica"].startswith("kctl-demo-mutable-") for x in mu["drift"]["replicas"])
print("immutable: %d files, %d state(s); mutable: %d files; CPU %.3f s / %.3f s, peak %d / %d B"
      % (files(im), im["drift"]["distinct_states"], files(mu), im["cpu_seconds"],
         mu["cpu_seconds"], im["peak_memory_bytes"], mu["peak_memory_bytes"]))
PY
[ -z "$(deployments "$work/f")" ] || fail "deployments left: $(deployments "$work/f")"
no_pods "$id"
# The journal of the mutable walk went where the Job's env says.
ls "$work/state/journal/kctl-demo-mutable.jsonl" >/dev/null || fail "no patch journal"
"$fake/stop.sh" "$work/f" >/dev/null 2>&1 || true

echo "== 2. no metrics.k8s.io: an unresolvable version touches nothing; figures null with notes"
"$fake/start.sh" "$work/g" --id "$id-g" --no-metrics >/dev/null
export KUBECONFIG=$work/g/kubeconfig KCTL_STATE_DIR=$work/state
api "$work/g" POST "/apis/apps/v1/namespaces/$ns/deployments" \
	"$(deployment_json kctl-demo-immutable "$reg:v1" 1)" >/dev/null
rv() { api "$work/g" GET "/apis/apps/v1/namespaces/$ns/deployments/kctl-demo-immutable" |
	"$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["metadata"]["uid"], d["metadata"]["resourceVersion"])'; }
before=$(rv)
rc=0
"$kctl" compare --engine kube -n "$ns" -f "$work/demo.yaml" --out "$work/bad" \
	--versions "$reg:v1,$reg:nope-$$" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
cat "$work/bad.err"
[ "$rc" = 1 ] || fail "unresolvable version: exit $rc, want 1"
grep -qi "manifest unknown" "$work/bad.err" || fail "unresolvable version: message"
[ "$(deployments "$work/g")" = kctl-demo-immutable ] || fail "deployments changed: $(deployments "$work/g")"
[ "$(rv)" = "$before" ] || fail "the existing Deployment was touched"
[ ! -e "$work/bad/report.json" ] || fail "a report was written for a failed compare"

rc=0
"$kctl" compare --engine kube -n "$ns" -f "$work/demo.yaml" --out "$work/out2" -o json \
	--versions "$reg:v1,$reg:v2" >"$work/nm.json" 2>"$work/nm.err" || rc=$?
cat "$work/nm.err"
[ "$rc" = 0 ] || fail "compare without metrics exited $rc"
"$py" - "$work/out2/report.json" <<'PY' || fail "report (without metrics)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["probe"]["url"] is None and d["probe"]["rate_hz"] is None, d["probe"]
for name in ("immutable", "mutable"):
    r = d["steps"][0][name]
    assert r["outcome"] == "ok", (name, r["error"])
    assert r["cpu_seconds"] is None and r["peak_memory_bytes"] is None, (name, r["cpu_seconds"])
    assert any("metrics.k8s.io" in n for n in r["notes"]), (name, r["notes"])
    assert r["probe"]["requests"] is None and any("--probe-url" in n for n in r["notes"]), name
    assert r["api"]["calls"] > 0, name
print("without metrics and probe: null figures, with notes")
PY
[ -z "$(deployments "$work/g")" ] || fail "deployments left: $(deployments "$work/g")"
no_pods "$id-g"

# Usage: --probe-url and -n belong to the kube engine; --fault is Docker-only.
rc=0
env -u KUBECONFIG "$kctl" compare -f "$work/demo.yaml" --versions "$reg:v1,$reg:v2" \
	--probe-url http://127.0.0.1:1/ >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--probe-url without --engine kube exited $rc, want 2"
rc=0
"$kctl" compare --engine kube -n "$ns" -f "$work/demo.yaml" --versions "$reg:v1,$reg:v2" \
	--fault partial >/dev/null 2>"$work/fault.err" || rc=$?
[ "$rc" != 0 ] && grep -q -- "--fault" "$work/fault.err" || fail "--fault on kube: $rc"
echo "kube-compare: ok"
