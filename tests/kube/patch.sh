#!/usr/bin/env bash
# kube suite: kctl patch deployment/NAME against the fake apiserver. $1: the kctl binary.
#  - 3 pods, /tmp/marker created in one of them (docker exec on the fake's pod container);
#    `--exec 'test ! -e /tmp/marker' --continue-on-error` exits 1 and says PARTIAL;
#  - the journal (KCTL_STATE_DIR in the test's dir) has one line per pod: the marked pod
#    failed, the two others ok, one patch id; each pod's io.kctl.patch annotation agrees
#    with its journal line (patch id, op, digest, outcome, time);
#  - without --continue-on-error the first failure stops the rest (skipped, not journaled);
#  - --copy of a small file arrives with its content in every pod, journaled and annotated;
#  - --to-image: a 3-pod Deployment of kctl-demo:v1 moved to v2 in place (files, modes,
#    deletions as v2 has them), SIGHUP instead of a restart (the app answers 2, no pod
#    restarted), journal and annotations say to-image with v2's digest, drift --target v2
#    finds nothing; a missing tag fails and --restart is refused (2) with pods untouched.
# Needs DOCKER_HOST (hack/engine up) and the registry on 127.0.0.1:5000.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
curl -sf http://127.0.0.1:5000/v2/ >/dev/null || { echo "no registry on 127.0.0.1:5000: skipping"; exit 77; }
kctl=$1
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-patch.XXXXXX)
img=kctl-kubetest-patch-$$/busybox
setup_fake_image
"$fake/start.sh" "$work/f" --id "kctl-kube-patch-$$" >/dev/null
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(deployment_json kp "$img:v1" 3)" >/dev/null
read -r -a pods <<<"$(wait_ready "$work/f" kp 3)"
[ "${#pods[@]}" -eq 3 ] || fail "expected 3 pods, got ${pods[*]}"
export KUBECONFIG=$work/f/kubeconfig KCTL_STATE_DIR=$work/state
unset KCTL_ENGINE

# One pod carries the marker (the image is FROM scratch: no /tmp until made).
bad=${pods[1]}
docker exec "kctl-fake-default-$bad" sh -c 'mkdir -p /tmp && touch /tmp/marker'

rc=0
"$kctl" patch deployment/kp --engine kube --exec 'test ! -e /tmp/marker' --continue-on-error \
	>"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 1 ] || fail "partial exec patch exited $rc, want 1"
grep -q PARTIAL "$work/out" || fail "no PARTIAL in the summary"
grep -q PARTIAL "$work/err" || fail "no PARTIAL in the error"
[ -f "$work/state/journal/kp.jsonl" ] || fail "no journal at $work/state/journal/kp.jsonl"
for p in "${pods[@]}"; do
	api "$work/f" GET "/api/v1/namespaces/default/pods/$p" >"$work/pod-$p.json"
done

# Journal and annotations, checked against each other and the expectation.
check() { # check WANT_OP WANT_OK_PODS(space separated) WANT_FAILED_PODS WANT_LINES
	"$py" - "$work" "$@" "${pods[@]}" <<'PY'
import json, sys
work, op, want_ok, want_failed, want_lines = sys.argv[1:6]
pods = sys.argv[6:]
want_ok, want_failed = set(want_ok.split()), set(want_failed.split())
lines = [json.loads(l) for l in open(work + "/state/journal/kp.jsonl")]
if len(lines) != int(want_lines):
    sys.exit("journal has %d lines, want %s: %s" % (len(lines), want_lines, lines))
last = lines[-len(pods):] if op == "copy" else lines[:len(pods)]
pid = {e["patch_id"] for e in last}
if len(pid) != 1:
    sys.exit("one patch id expected, got %s" % pid)
by = {e["replica_id"]: e for e in last}
ok = {p for p, e in by.items() if e["outcome"] == "ok"}
failed = {p for p, e in by.items() if e["outcome"] == "failed"}
if ok != want_ok or failed != want_failed:
    sys.exit("journal ok=%s failed=%s, want ok=%s failed=%s" % (ok, failed, want_ok, want_failed))
for p in pods:
    e = by[p]
    if e["op"] != op or not e["digest"].startswith("sha256:"):
        sys.exit("journal line for %s: %s" % (p, e))
    if e["outcome"] == "failed" and not e.get("error"):
        sys.exit("failed line without error: %s" % e)
    pod = json.load(open("%s/pod-%s.json" % (work, p)))
    ann = pod["metadata"].get("annotations", {}).get("io.kctl.patch")
    if ann is None:
        sys.exit("pod %s has no io.kctl.patch annotation" % p)
    a = json.loads(ann)
    for ak, jk in (("patchId", "patch_id"), ("op", "op"), ("digest", "digest"),
                   ("outcome", "outcome"), ("time", "time")):
        if a.get(ak) != e.get(jk):
            sys.exit("pod %s: annotation %s=%r, journal %s=%r" % (p, ak, a.get(ak), jk, e.get(jk)))
print("journal and annotations agree:", sorted(ok), "ok,", sorted(failed), "failed")
PY
}
good="${pods[0]} ${pods[2]}"
check exec "$good" "$bad" 3 || fail "exec: journal/annotations"

# Without --continue-on-error the failure on the 2nd pod stops the 3rd: skipped, not journaled.
rc=0
"$kctl" patch deployment/kp --engine kube --exec 'test ! -e /tmp/marker' >"$work/out2" 2>&1 || rc=$?
cat "$work/out2"
[ "$rc" -eq 1 ] || fail "stop-on-error patch exited $rc, want 1"
grep -q "${pods[2]} *skipped" "$work/out2" || fail "3rd pod not skipped"
[ "$(wc -l <"$work/state/journal/kp.jsonl")" -eq 5 ] || fail "want 5 journal lines after 2 more steps"

# --copy: a small file arrives with its content in every pod (-o json, in parallel).
printf 'patched by kctl %s\n' "$$" >"$work/conf"
"$kctl" patch deployment/kp --engine kube --copy "$work/conf:/etc/kctl-patch.conf" --parallel 3 \
	-o json >"$work/copy.json" || fail "copy patch failed: $(cat "$work/copy.json")"
"$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["outcome"]=="ok" and d["ok"]==3, d' \
	"$work/copy.json" || fail "copy -o json"
for p in "${pods[@]}"; do
	got=$(docker exec "kctl-fake-default-$p" cat /etc/kctl-patch.conf)
	[ "$got" = "patched by kctl $$" ] || fail "pod $p has \"$got\""
	api "$work/f" GET "/api/v1/namespaces/default/pods/$p" >"$work/pod-$p.json"
done
check copy "${pods[*]}" "" 8 || fail "copy: journal/annotations"

# A Docker-looking invocation of a Kubernetes target is a usage error, not a guess.
rc=0
KCTL_ENGINE= "$kctl" patch deployment/kp --exec true >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "deployment/NAME without --engine kube exited $rc, want 2"
# --to-image: a 3-pod Deployment of the demo app at v1 moved to v2 in place (the v1 -> v2
# file difference from registry indexes), then SIGHUP so the app re-reads its files; no
# pod is restarted. The demo images are shared: built when missing, never removed here.
demo=127.0.0.1:5000/kctl-demo
tags() { curl -sf http://127.0.0.1:5000/v2/kctl-demo/tags/list || true; }
if ! tags | grep -q '"v1"' || ! tags | grep -q '"v2"' || ! tags | grep -q '"v3"'; then
	"$(dirname "$0")/../../hack/images" ${KCTL_BUILD_DIR:+--build-dir "$KCTL_BUILD_DIR"} \
		>/dev/null || fail "hack/images"
fi
d2=$(registry_digest kctl-demo v2)
[ -n "$d2" ] || fail "no registry digest for $demo:v2"
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(deployment_json kpi "$demo:v1" 3 | sed 's#/etc/kctl-version#/app/VERSION#')" >/dev/null
read -r -a ipods <<<"$(wait_ready "$work/f" kpi 3)"
[ "${#ipods[@]}" -eq 3 ] || fail "expected 3 kpi pods, got ${ipods[*]}"
pod_exec() { local p=$1; shift; docker exec "kctl-fake-default-$p" "$@"; }
# The app's answer over the pod's own loopback (pods have no other network).
app_version() {
	pod_exec "$1" sh -c 'printf "GET /version HTTP/1.0\r\n\r\n" | busybox nc 127.0.0.1 8080 | tail -n 1'
}
started() { docker inspect --format '{{.Id}} {{.State.StartedAt}}' "kctl-fake-default-$1"; }
for p in "${ipods[@]}"; do
	[ "$(app_version "$p")" = 1 ] || fail "pod $p: the app does not answer version 1 before"
	started "$p" >"$work/started-$p"
done
# v1 content the patch must change: used below to prove the pods were untouched.
v1_state() { pod_exec "$1" sh -c 'cat /app/VERSION; ls /app/static; stat -c %a /app/bin/hook.sh'; }
v1_state "${ipods[0]}" >"$work/v1-state"
untouched() { # untouched WHAT: every pod still has v1's files, no journal line, no annotation
	for p in "${ipods[@]}"; do
		v1_state "$p" | cmp -s - "$work/v1-state" || fail "$1: pod $p was touched"
		api "$work/f" GET "/api/v1/namespaces/default/pods/$p" |
			"$py" -c 'import json,sys; a=json.load(sys.stdin)["metadata"].get("annotations") or {}
assert "io.kctl.patch" not in a, a' || fail "$1: pod $p annotated"
	done
	[ ! -s "$work/state/journal/kpi.jsonl" ] || fail "$1: journal written"
}

# A target that does not resolve fails before any pod is touched.
rc=0
"$kctl" patch deployment/kpi --engine kube --to-image "$demo:no-such-tag-$$" >"$work/miss" 2>&1 ||
	rc=$?
cat "$work/miss"
[ "$rc" -eq 1 ] || fail "--to-image of a missing tag exited $rc, want 1"
grep -q "no-such-tag-$$" "$work/miss" || fail "the error does not name the missing tag"
untouched "missing tag"
# --restart would lose the edit (the kubelet starts a fresh container): a usage error.
rc=0
"$kctl" patch deployment/kpi --engine kube --to-image "$demo:v2" --restart >"$work/rst" 2>&1 ||
	rc=$?
cat "$work/rst"
[ "$rc" -eq 2 ] || fail "--restart on Kubernetes exited $rc, want 2"
grep -q "kubelet" "$work/rst" || fail "--restart refusal does not say why"
untouched "--restart"

"$kctl" patch deployment/kpi --engine kube --to-image "$demo:v2" --parallel 2 -o json \
	>"$work/ti.json" || fail "--to-image patch failed: $(cat "$work/ti.json")"
cat "$work/ti.json"
"$py" - "$work/ti.json" "$d2" "${ipods[@]}" <<'PY' || fail "--to-image -o json"
import json, sys
d = json.load(open(sys.argv[1])); d2 = sys.argv[2]; pods = sys.argv[3:]
assert d["op"] == "to-image" and d["outcome"] == "ok" and d["ok"] == 3, d
assert d["digest"] == d2, (d["digest"], d2)
assert sorted(p["name"] for p in d["pods"]) == sorted(pods), d["pods"]
for p in d["pods"]:
    # v2: VERSION, app.conf changed, hook.sh mode; new-in-v2.txt added; old.txt deleted.
    assert p["added"] == 1 and p["changed"] == 3 and p["deleted"] == 1, p
    assert p["journaled"] and p["annotated"], p
    assert "signalled SIGHUP" in p["applied"], p
PY
for p in "${ipods[@]}"; do
	[ "$(pod_exec "$p" cat /app/VERSION)" = 2 ] || fail "pod $p: /app/VERSION is not 2"
	pod_exec "$p" test ! -e /app/static/old.txt || fail "pod $p: old.txt not deleted"
	[ "$(pod_exec "$p" cat /app/static/new-in-v2.txt)" = "added in v2" ] ||
		fail "pod $p: new-in-v2.txt missing"
	pod_exec "$p" grep -qx 'feature_x=on' /app/config/app.conf || fail "pod $p: app.conf not v2"
	[ "$(pod_exec "$p" stat -c %a /app/bin/hook.sh)" = 755 ] || fail "pod $p: hook.sh mode"
	[ "$(pod_exec "$p" readlink /app/config/current.conf)" = app.conf ] ||
		fail "pod $p: symlink damaged"
	[ "$(app_version "$p")" = 2 ] || fail "pod $p: the app does not answer version 2 (SIGHUP)"
	started "$p" | cmp -s - "$work/started-$p" || fail "pod $p was restarted"
	api "$work/f" GET "/api/v1/namespaces/default/pods/$p" >"$work/ipod-$p.json"
done
"$py" - "$work" "$d2" "$demo:v2" "${ipods[@]}" <<'PY' || fail "--to-image journal/annotations"
import json, sys
work, d2, ref = sys.argv[1:4]; pods = sys.argv[4:]
lines = [json.loads(l) for l in open(work + "/state/journal/kpi.jsonl")]
ti = {e["replica_id"]: e for e in lines if e["op"] == "to-image"}
sig = {e["replica_id"]: e for e in lines if e["op"] == "signal"}
assert len(lines) == 6 and sorted(ti) == sorted(pods) == sorted(sig), lines
assert len({e["patch_id"] for e in lines}) == 1, lines
for p in pods:
    e = ti[p]
    assert e["outcome"] == "ok" and e["digest"] == d2, e
    assert e["detail"].startswith(d2 + " " + ref + ":"), e
    assert sig[p]["outcome"] == "ok" and sig[p]["detail"] == "SIGHUP", sig[p]
    a = json.loads(json.load(open("%s/ipod-%s.json" % (work, p)))["metadata"]["annotations"]["io.kctl.patch"])
    want = {"patchId": e["patch_id"], "op": "to-image", "digest": d2, "outcome": "ok",
            "time": e["time"], "signal": "SIGHUP", "signalOutcome": "ok"}
    assert a == want, (a, want)
print("to-image: journal and annotations agree on", d2)
PY
# The pods' files now match v2's index: drift --target v2 finds no difference with the
# target (against their own v1 image they have drifted, so the exit status is 3).
rc=0
"$kctl" drift deployment/kpi --engine kube --target "$demo:v2" -o json >"$work/drift.json" \
	2>"$work/drift.err" || rc=$?
[ "$rc" -eq 3 ] || fail "drift --target v2 exited $rc, want 3: $(cat "$work/drift.json" "$work/drift.err")"
"$py" - "$work/drift.json" "$d2" <<'PY' || fail "drift --target v2 after the patch"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["target"] == sys.argv[2] and d["replicaCount"] == 3, d
for r in d["replicas"]:
    assert r["targetDiff"] == [], (r["name"], r["targetDiff"])
    assert sorted((f["kind"], f["path"]) for f in r["files"] if f["kind"] in "ACD") == [
        ("A", "/app/static/new-in-v2.txt"), ("C", "/app/VERSION"),
        ("C", "/app/config/app.conf"), ("D", "/app/static/old.txt")], r["files"]
print("drift --target v2: no difference with the target in", len(d["replicas"]), "pods")
PY
# Again: the journal says the pods are at v2 already; nothing is applied or signalled.
"$kctl" patch deployment/kpi --engine kube --to-image "$demo:v2" >"$work/again" ||
	fail "second --to-image failed: $(cat "$work/again")"
grep -q "nothing to apply" "$work/again" || fail "second --to-image: $(cat "$work/again")"
[ "$(grep -c '"op":"signal"' "$work/state/journal/kpi.jsonl")" -eq 3 ] ||
	fail "second --to-image signalled again"
# Without the journal (a Job, another machine) the pods' io.kctl.files-from annotation
# says their files are v2's: v2 -> v3 removes new-in-v2.txt, which a diff from the
# pods' imageID (v1, which lacks it as v3 does) would leave behind.
for p in "${ipods[@]}"; do
	api "$work/f" GET "/api/v1/namespaces/default/pods/$p" | "$py" -c '
import json, sys
a = json.load(sys.stdin)["metadata"]["annotations"]
assert a.get("io.kctl.files-from") == sys.argv[1], a' "$demo@$d2" ||
		fail "pod $p: io.kctl.files-from is not $demo@$d2"
done
KCTL_STATE_DIR=$work/state-elsewhere "$kctl" patch deployment/kpi --engine kube \
	--to-image "$demo:v3" >"$work/v3.out" 2>&1 || fail "--to-image v3 without the journal: $(cat "$work/v3.out")"
for p in "${ipods[@]}"; do
	[ "$(pod_exec "$p" cat /app/VERSION)" = 3 ] || fail "pod $p: /app/VERSION is not 3"
	pod_exec "$p" test ! -e /app/static/new-in-v2.txt ||
		fail "pod $p: new-in-v2.txt left behind (patched from v1, not from v2)"
	pod_exec "$p" test -f /app/config/app-v3.conf || fail "pod $p: app-v3.conf missing"
done
echo "to-image v2 -> v3 without the journal: from the files-from annotation"
echo "kube-patch: ok"
