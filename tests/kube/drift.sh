#!/usr/bin/env bash
# kube suite: kctl drift deployment/NAME against the fake apiserver. $1: the kctl binary.
#  - a fresh 3-pod Deployment of a pushed image: no drift (exit 0, 1 distinct state,
#    every pod's imageDigest the registry's);
#  - a file added in one pod only (kctl patch --exec with a condition on a /tmp marker):
#    exit 3, that pod reports "A /app-extra" with its sha256, 2 distinct states;
#  - a file changed and one deleted in every pod: exit 3, C and D reported in each, still
#    2 distinct states (the odd pod keeps its extra file);
#  - deployment/NAME without --engine kube is a usage error (2).
# Needs DOCKER_HOST (hack/engine up) and the registry on 127.0.0.1:5000.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
curl -sf http://127.0.0.1:5000/v2/ >/dev/null || { echo "no registry on 127.0.0.1:5000: skipping"; exit 77; }
kctl=$1
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-drift.XXXXXX)
img=127.0.0.1:5000/kctl-kubetest-drift-$$/busybox
setup_fake_image
docker push -q "$img:v1" >/dev/null
digest=$(registry_digest "$img" v1)
[ -n "$digest" ] || fail "no digest for $img:v1"
"$fake/start.sh" "$work/f" --id "kctl-kube-drift-$$" >/dev/null
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(deployment_json kd "$img:v1" 3)" >/dev/null
read -r -a pods <<<"$(wait_ready "$work/f" kd 3)"
[ "${#pods[@]}" -eq 3 ] || fail "expected 3 pods, got ${pods[*]}"
export KUBECONFIG=$work/f/kubeconfig KCTL_STATE_DIR=$work/state
unset KCTL_ENGINE

# drift_json FILE WANT_RC: runs drift -o json into FILE, checks the exit status.
drift_json() {
	local rc=0
	"$kctl" drift deployment/kd --engine kube -o json >"$1" 2>"$1.err" || rc=$?
	cat "$1" "$1.err"
	[ "$rc" -eq "$2" ] || fail "drift exited $rc, want $2"
}

# 1. Fresh: no drift.
drift_json "$work/d0.json" 0
"$py" - "$work/d0.json" "$digest" "${pods[@]}" <<'PY' || fail "fresh report"
import json, sys
d = json.load(open(sys.argv[1])); digest = sys.argv[2]; pods = sys.argv[3:]
reps = d["replicas"]
assert sorted(r["name"] for r in reps) == sorted(pods), reps
assert d["distinctStates"] == 1, d["distinctStates"]
for r in reps:
    assert r["imageDigest"] == digest, (r["imageDigest"], digest)
    assert r["files"] == [], r["files"]
print("fresh: no drift over", len(reps), "pods")
PY
"$kctl" drift deployment/kd --engine kube >"$work/t0" || fail "text drift exited non-zero"
grep -q "no drift" "$work/t0" || fail "text output lacks 'no drift': $(cat "$work/t0")"

# 2. One pod only gets a new file: the patch's condition is a marker under /tmp (which
# drift skips) put in that pod alone (the fake's hostnames are container ids, not pod names).
odd=${pods[1]}
docker exec "kctl-fake-default-$odd" sh -c 'mkdir -p /tmp && touch /tmp/drift-marker'
"$kctl" patch deployment/kd --engine kube \
	--exec 'if [ -e /tmp/drift-marker ]; then echo x > /app-extra; fi' >/dev/null ||
	fail "patch --exec (one pod) failed"
docker exec "kctl-fake-default-$odd" test -f /app-extra || fail "the odd pod has no /app-extra"
drift_json "$work/d1.json" 3
sha=$(printf 'x\n' | sha256sum | cut -d' ' -f1)
"$py" - "$work/d1.json" "$odd" "$sha" <<'PY' || fail "one-pod drift report"
import json, sys
d = json.load(open(sys.argv[1])); odd, sha = sys.argv[2], sys.argv[3]
assert d["distinctStates"] == 2, d["distinctStates"]
for r in d["replicas"]:
    files = [(f["path"], f["kind"]) for f in r["files"]]
    if r["name"] == odd:
        assert files == [("/app-extra", "A")], files
        assert r["files"][0]["sha256"].endswith(sha), r["files"][0]
    else:
        assert files == [], (r["name"], files)
states = {r["name"]: r["fingerprint"] for r in d["replicas"]}
assert len(set(states.values())) == 2, states
print("one pod drifted: 2 distinct states")
PY

# 3. Every pod: a changed file and a deleted one (the odd pod keeps its extra file).
"$kctl" patch deployment/kd --engine kube \
	--exec 'echo changed > /etc/kctl-version && rm /bin/vi' >/dev/null ||
	fail "patch --exec (all pods) failed"
drift_json "$work/d2.json" 3
"$py" - "$work/d2.json" "$odd" <<'PY' || fail "all-pods drift report"
import json, sys
d = json.load(open(sys.argv[1])); odd = sys.argv[2]
assert d["distinctStates"] == 2, d["distinctStates"]
for r in d["replicas"]:
    files = sorted((f["path"], f["kind"]) for f in r["files"])
    want = [("/bin/vi", "D"), ("/etc/kctl-version", "C")]
    if r["name"] == odd:
        want = sorted(want + [("/app-extra", "A")])
    assert files == want, (r["name"], files)
    assert r["changed"] == 1 and r["deleted"] == 1, r
print("every pod drifted: changed and deleted files reported")
PY

# A Kubernetes target without the kube engine is a usage error.
rc=0
"$kctl" drift deployment/kd >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "deployment/NAME without --engine kube exited $rc, want 2"
echo "kube-drift: ok"
