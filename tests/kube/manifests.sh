#!/usr/bin/env bash
# kube suite: every file in manifests/ is valid Kubernetes YAML.
# 1. Where kubectl exists: `kubectl apply --dry-run=client --validate=false -f
#    manifests/` against the fake started with --advertise-unserved (client dry run
#    still needs discovery for the REST mapping and a GET to see the object is new;
#    --validate=false because the fake has no OpenAPI). Every document must say
#    "(dry run)".
# 2. Our own checks, always: each document parses
# with kctl's YAML reader (Deployments also with its Deployment reader), has
# apiVersion/kind/metadata.name, and kind-specific structure: the RBAC Role grants
# exactly the verbs kctl needs, the RoleBinding and the Job/CronJob point at the
# ServiceAccount and Role defined here, the CronJob schedule has five fields, Jobs
# never restart (so kctl drift's exit 3 fails the Job).
# $1: the kube-yaml2json helper.
set -euo pipefail
y2j=$1
src=${KCTL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$(dirname "$0")/lib.sh"
out=$(mktemp)
work=$(mktemp -d /tmp/kctl-kube-manifests.XXXXXX)
trap '"$fake/stop.sh" "$work/f" >/dev/null 2>&1 || true; rm -rf "$out" "$work"' EXIT
KUBECTL=${KCTL_KUBECTL:-kubectl}
if command -v "$KUBECTL" >/dev/null; then
	"$fake/start.sh" "$work/f" --id "kctl-kube-manifests-$$" --advertise-unserved >/dev/null
	"$KUBECTL" --kubeconfig "$work/f/kubeconfig" --cache-dir "$work/cache" apply \
		--dry-run=client --validate=false -f "$src/manifests/" | tee "$work/apply.txt"
	docs=$(cat "$src"/manifests/*.yaml | grep -c '^kind:')
	[ "$(grep -c '(dry run)$' "$work/apply.txt")" = "$docs" ] ||
		{ echo "FAIL: kubectl dry run accepted $(grep -c '(dry run)$' "$work/apply.txt") of $docs"; exit 1; }
else
	echo "no kubectl: client dry run not tried"
fi
for f in "$src"/manifests/*.yaml; do
	"$y2j" "$f" | sed "s|^|$(basename "$f")\t|" >>"$out" || { echo "FAIL: $f does not parse"; exit 1; }
done
"$py" - "$out" <<'PY'
import json, re, sys, urllib.parse
docs = []
for line in open(sys.argv[1]):
    name, js = line.rstrip("\n").split("\t", 1)
    docs.append((name, json.loads(js)))
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)
API = {"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1", "ConfigMap": "v1",
       "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
       "Job": "batch/v1", "CronJob": "batch/v1"}
by = {}
for f, d in docs:
    kind = d.get("kind")
    need(kind in API, f"{f}: unknown kind {kind}")
    need(d.get("apiVersion") == API.get(kind), f"{f}: {kind} apiVersion {d.get('apiVersion')}")
    name = d.get("metadata", {}).get("name")
    need(isinstance(name, str) and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name or "")
         is not None, f"{f}: metadata.name {name!r}")
    by[(kind, name)] = d
def podspec_ok(f, ps, what):
    need(ps.get("restartPolicy") in ("Never", "OnFailure"), f"{f}: {what} restartPolicy")
    sa = ps.get("serviceAccountName")
    need(("ServiceAccount", sa) in by, f"{f}: {what} serviceAccountName {sa} not defined")
    cs = ps.get("containers") or []
    need(len(cs) >= 1 and all(c.get("name") and c.get("image") for c in cs),
         f"{f}: {what} containers need name and image")
    vols = {v["name"] for v in ps.get("volumes", [])}
    for c in cs:
        for m in c.get("volumeMounts", []):
            need(m["name"] in vols, f"{f}: volumeMount {m['name']} has no volume")
        need(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True,
             f"{f}: kctl runs with a read-only root")
for f, d in docs:
    kind, spec = d["kind"], d.get("spec", {})
    if kind == "Deployment":
        sel = spec["selector"]["matchLabels"]
        labels = spec["template"]["metadata"]["labels"]
        need(all(labels.get(k) == v for k, v in sel.items()), f"{f}: selector/labels mismatch")
    elif kind == "Service":
        need(spec.get("ports"), f"{f}: Service without ports")
    elif kind == "Role":
        got = {}
        for r in d["rules"]:
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    got[(g, res)] = set(r["verbs"])
        want = {("apps", "deployments"): {"get", "list", "watch", "patch", "create", "update",
                                          "delete"},
                ("apps", "replicasets"): {"get", "list"},
                ("", "pods"): {"get", "list", "patch"},
                ("", "pods/exec"): {"create", "get"},
                ("metrics.k8s.io", "pods"): {"list"}}
        need(got == want, f"{f}: Role grants {got}, kctl needs {want}")
    elif kind == "RoleBinding":
        rr = d["roleRef"]
        need(rr["kind"] == "Role" and ("Role", rr["name"]) in by, f"{f}: roleRef")
        for s in d["subjects"]:
            need(s["kind"] == "ServiceAccount" and ("ServiceAccount", s["name"]) in by,
                 f"{f}: subject {s}")
    elif kind == "Job":
        need(spec.get("backoffLimit") == 0, f"{f}: Job backoffLimit")
        podspec_ok(f, spec["template"]["spec"], "Job")
        args = spec["template"]["spec"]["containers"][0].get("args", [])
        if args[:1] == ["compare"]:
            # The probe asks a Service defined here, on a port it serves; the report
            # goes to the writable /tmp (the root is read-only).
            def arg(name):
                return args[args.index(name) + 1] if name in args[:-1] else None
            u = urllib.parse.urlsplit(arg("--probe-url") or "")
            svc = by.get(("Service", u.hostname))
            port = u.port or (443 if u.scheme == "https" else 80)
            need(svc is not None and any(p.get("port") == port for p in svc["spec"]["ports"]),
                 f"{f}: --probe-url {arg('--probe-url')} is no Service port defined here")
            need((arg("--out") or "").startswith("/tmp/"), f"{f}: compare --out must be on /tmp")
    elif kind == "CronJob":
        need(len(spec["schedule"].split()) == 5, f"{f}: schedule")
        js = spec["jobTemplate"]["spec"]
        need(js.get("backoffLimit") == 0, f"{f}: a drift finding (exit 3) must fail the Job")
        podspec_ok(f, js["template"]["spec"], "CronJob")
        args = js["template"]["spec"]["containers"][0].get("args", [])
        need(args[:1] == ["drift"], f"{f}: CronJob runs kctl drift")
for e in errors:
    print("FAIL:", e)
print(f"{len(docs)} documents checked")
sys.exit(1 if errors else 0)
PY
