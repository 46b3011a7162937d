#!/usr/bin/env bash
# kube suite: kctl drift deployment/NAME on the fake apiserver, what the pod runs and how
# it is read. $1: the kctl binary.
#  - imageID: a Deployment whose spec names a tag; the tag is then pushed again with
#    other content. The fake's status says docker-pullable://REPO@DIGEST of what runs,
#    and drift compares with that (no drift, imageDigest = the first push's digest),
#    not with what the tag names now;
#  - a chmod in one pod: exit 3, "M" with the new mode in that pod only, 2 states;
#  - --target on a kctl-demo:v1 Deployment: v2 gives the v1->v2 difference per pod
#    (content, mode, only-here, only-in-target), v1 (what runs) none; exit 0 both;
#  - a Deployment of kctl-demo:v1-shim: read with `kctl-shim drift` (method shim); a
#    file edited in one pod with kctl patch --exec: exit 3, 2 states; a pod whose
#    shim lost its baseline falls back to the listing, with a note.
# Needs DOCKER_HOST (hack/engine up), the registry on 127.0.0.1:5000 with kctl-demo:v1,
# v2 and v1-shim (hack/images --shim).
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
curl -sf http://127.0.0.1:5000/v2/ >/dev/null || { echo "no registry on 127.0.0.1:5000: skipping"; exit 77; }
demo=127.0.0.1:5000/kctl-demo
tags=$(curl -sf http://127.0.0.1:5000/v2/kctl-demo/tags/list || true)
for t in v1 v2 v1-shim; do
	case $tags in *"\"$t\""*) ;; *) echo "no $demo:$t (hack/images --shim): skipping"; exit 77 ;; esac
done
kctl=$1
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-drift-image.XXXXXX)
img=127.0.0.1:5000/kctl-kubetest-drift-image-$$/busybox
digest1=
cleanup() {
	"$fake/stop.sh" "$work/f" || true
	"$(dirname "$0")/image.sh" remove "$img" || true
	# By name only: the same content may be another test's image too (builder cache).
	docker rmi -f --no-prune "$img:orig" >/dev/null 2>&1 || true
	[ -z "$digest1" ] || docker rmi --no-prune "$img@$digest1" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
# reg_digest REPO TAG: the registry's digest of REPO:TAG.
reg_digest() {
	curl -sfI -H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
		"http://127.0.0.1:5000/v2/${1#127.0.0.1:5000/}/manifests/$2" |
		tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}
# demo_json NAME IMAGE REPLICAS: a Deployment of a kctl-demo image (no /etc/kctl-version).
demo_json() {
	deployment_json "$1" "$2" "$3" | sed 's#"cat","/etc/kctl-version"#"cat","/app/VERSION"#'
}
# drift_json FILE WANT_RC ARGS...: kctl drift ARGS -o json into FILE, checks the exit status.
drift_json() {
	local out=$1 want=$2 rc=0
	shift 2
	"$kctl" drift "$@" --engine kube -o json >"$out" 2>"$out.err" || rc=$?
	cat "$out" "$out.err"
	[ "$rc" -eq "$want" ] || fail "drift $* exited $rc, want $want"
}
cname() { echo "kctl-fake-default-$1"; }
# ready NAME N: wait_ready with more patience (exec probes are slow on a loaded machine).
ready() {
	local out
	for _ in 1 2 3; do
		out=$(wait_ready "$work/f" "$1" "$2" 2>/dev/null) && { echo "$out"; return 0; }
	done
	return 1
}

"$(dirname "$0")/image.sh" build "$img"
docker push -q "$img:v1" >/dev/null
digest1=$(reg_digest "$img" v1)
[ -n "$digest1" ] || fail "no digest for $img:v1"
"$fake/start.sh" "$work/f" --id "kctl-kube-drift-image-$$" >/dev/null
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(deployment_json kdi-tag "$img:v1" 2)" >/dev/null
read -r -a tpods <<<"$(ready kdi-tag 2)"
[ "${#tpods[@]}" -eq 2 ] || fail "kdi-tag pods: ${tpods[*]}"
# The others start while the first sections run (one at a time: a loaded machine
# makes many exec probes at once slow).
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(demo_json kdi-demo "$demo:v1" 2)" >/dev/null
export KUBECONFIG=$work/f/kubeconfig KCTL_STATE_DIR=$work/state
unset KCTL_ENGINE

# 1. imageID. The fake reports what the kubelet would: the running image's repo digest.
for _ in $(seq 1 40); do
	api "$work/f" GET "/api/v1/namespaces/default/pods?labelSelector=app%3Dkdi-tag" >"$work/pods.json"
	"$py" - "$work/pods.json" "docker-pullable://$img@$digest1" <<'PY' && break
import json, sys
ids = [p["status"]["containerStatuses"][0].get("imageID") for p in json.load(open(sys.argv[1]))["items"]]
sys.exit(0 if ids == [sys.argv[2]] * 2 else 1)
PY
	sleep 0.5
done
"$py" - "$work/pods.json" "docker-pullable://$img@$digest1" <<'PY' || fail "fake imageID"
import json, sys
ids = [p["status"]["containerStatuses"][0].get("imageID") for p in json.load(open(sys.argv[1]))["items"]]
assert ids == [sys.argv[2]] * 2, (ids, sys.argv[2])
PY
# The tag now names other content; the pods still run the first push (kept tagged
# :orig so that cleanup removes it by name).
docker tag "$img:v1" "$img:orig"
docker tag "$img:v2" "$img:v1"
docker push -q "$img:v1" >/dev/null
digest_now=$(reg_digest "$img" v1)
[ -n "$digest_now" ] && [ "$digest_now" != "$digest1" ] || fail "re-push of $img:v1 kept $digest1"
drift_json "$work/d1.json" 0 deployment/kdi-tag
"$py" - "$work/d1.json" "$digest1" <<'PY' || fail "imageID report"
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["replicas"]:
    assert r["imageDigest"] == sys.argv[2], (r["imageDigest"], sys.argv[2])
    assert r["method"] == "listing" and r["files"] == [], r
assert d["notes"] == [], d["notes"]
print("imageID: compared with", sys.argv[2], "not what the tag names now")
PY

# 2. A chmod in one pod: a mode change, reported with the new mode.
docker exec "$(cname "${tpods[0]}")" chmod 0600 /etc/kctl-version
drift_json "$work/d2.json" 3 deployment/kdi-tag
"$py" - "$work/d2.json" "${tpods[0]}" <<'PY' || fail "chmod report"
import json, sys
d = json.load(open(sys.argv[1])); odd = sys.argv[2]
assert d["distinctStates"] == 2, d["distinctStates"]
for r in d["replicas"]:
    files = [(f["path"], f["kind"], f["mode"]) for f in r["files"]]
    want = [("/etc/kctl-version", "M", 0o600)] if r["name"] == odd else []
    assert files == want, (r["name"], files)
    assert r["changed"] == (1 if r["name"] == odd else 0), r
print("chmod: M 0600 in one pod, 2 states")
PY
"$kctl" drift deployment/kdi-tag --engine kube >"$work/t2" && fail "text drift exited 0"
grep -q "M /etc/kctl-version .* 0600" "$work/t2" || fail "text lacks the M line: $(cat "$work/t2")"
grep -q "method listing" "$work/t2" || fail "text lacks the method: $(cat "$work/t2")"

# 3. --target on kctl-demo:v1 pods.
read -r -a dpods <<<"$(ready kdi-demo 2)"
[ "${#dpods[@]}" -eq 2 ] || fail "kdi-demo pods: ${dpods[*]}"
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(demo_json kdi-shim "$demo:v1-shim" 2)" >/dev/null
v1=$(reg_digest "$demo" v1)
v2=$(reg_digest "$demo" v2)
drift_json "$work/d3.json" 0 deployment/kdi-demo --target "$demo:v2"
"$py" - "$work/d3.json" "$v1" "$v2" <<'PY' || fail "--target v2 report"
import json, sys
d = json.load(open(sys.argv[1])); v1, v2 = sys.argv[2], sys.argv[3]
assert d["target"] == v2, (d["target"], v2)
want = {("/app/VERSION", "C"), ("/app/config/app.conf", "C"), ("/app/static/old.txt", "A"),
        ("/app/static/new-in-v2.txt", "D"), ("/app/bin/hook.sh", "M")}
for r in d["replicas"]:
    assert r["imageDigest"] == v1 and r["files"] == [], r
    got = {(f["path"], f["kind"]) for f in r["targetDiff"]}
    assert got == want, (r["name"], sorted(got ^ want))
    hook = [f for f in r["targetDiff"] if f["path"] == "/app/bin/hook.sh"][0]
    assert hook["mode"] == 0o644, hook  # the pod's mode (v2 has 0755)
print("--target v2: the v1->v2 difference in every pod")
PY
drift_json "$work/d4.json" 0 deployment/kdi-demo --target "$demo:v1"
"$py" - "$work/d4.json" "$v1" <<'PY' || fail "--target v1 report"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["target"] == sys.argv[2], d["target"]
for r in d["replicas"]:
    assert r["targetDiff"] == [], (r["name"], r["targetDiff"])
print("--target v1 (what runs): no difference")
PY
"$kctl" drift deployment/kdi-demo --engine kube --target "$demo:v2" >"$work/t3" ||
	fail "text drift --target exited non-zero"
grep -q "vs target $v2: 5 differences" "$work/t3" || fail "text --target: $(cat "$work/t3")"

# 4. kctl-shim pods: read with `kctl-shim drift` once the shims have their baselines.
read -r -a spods <<<"$(ready kdi-shim 2)"
[ "${#spods[@]}" -eq 2 ] || fail "kdi-shim pods: ${spods[*]}"
for p in "${spods[@]}"; do
	for _ in $(seq 1 60); do
		docker exec "$(cname "$p")" sh -c 'test -f /tmp/kctl-shim/baseline ||
			test -f /run/kctl-shim/baseline' && break
		sleep 0.5
	done
done
drift_json "$work/d5.json" 0 deployment/kdi-shim
"$py" - "$work/d5.json" <<'PY' || fail "shim fresh report"
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["replicas"]:
    assert r["method"] == "shim" and r["files"] == [], r
assert d["distinctStates"] == 1 and d["notes"] == [], d
print("shim: no drift, method shim")
PY
odd=${spods[1]}
docker exec "$(cname "$odd")" touch /tmp/drift-marker
"$kctl" patch deployment/kdi-shim --engine kube \
	--exec 'if [ -e /tmp/drift-marker ]; then echo edited >> /app/config/app.conf; chmod 0640 /app/config/app.conf; fi' \
	>/dev/null || fail "patch --exec (one shim pod) failed"
sha=$(docker exec "$(cname "$odd")" sha256sum /app/config/app.conf | cut -d' ' -f1)
drift_json "$work/d6.json" 3 deployment/kdi-shim
"$py" - "$work/d6.json" "$odd" "$sha" <<'PY' || fail "shim drift report"
import json, sys
d = json.load(open(sys.argv[1])); odd, sha = sys.argv[2], sys.argv[3]
assert d["distinctStates"] == 2, d["distinctStates"]
for r in d["replicas"]:
    assert r["method"] == "shim", r
    files = [(f["path"], f["kind"]) for f in r["files"]]
    if r["name"] == odd:
        assert files == [("/app/config/app.conf", "C")], files
        assert r["files"][0]["sha256"] == "sha256:" + sha, r["files"][0]
        assert r["files"][0]["mode"] == 0o640, r["files"][0]  # from kctl-shim drift
    else:
        assert files == [], (r["name"], files)
print("shim: the edited pod drifted, 2 states")
PY
"$kctl" drift deployment/kdi-shim --engine kube >"$work/t6" && fail "text shim drift exited 0"
grep -q "method shim" "$work/t6" || fail "text lacks method shim: $(cat "$work/t6")"
# No baseline any more in the other pod: kctl-shim drift exits 2, the listing is used.
other=${spods[0]}
docker exec "$(cname "$other")" rm -rf /tmp/kctl-shim /run/kctl-shim
drift_json "$work/d7.json" 3 deployment/kdi-shim
"$py" - "$work/d7.json" "$odd" "$other" <<'PY' || fail "shim fallback report"
import json, sys
d = json.load(open(sys.argv[1])); odd, other = sys.argv[2], sys.argv[3]
m = {r["name"]: r for r in d["replicas"]}
assert m[odd]["method"] == "shim", m[odd]
assert m[other]["method"] == "listing" and m[other]["files"] == [], m[other]
assert any(other in n and "exit 2" in n for n in d["notes"]), d["notes"]
print("shim without baseline: listing, noted")
PY
echo "kube-drift-image: ok"
