#!/usr/bin/env bash
# kube suite: kctl patch deployment/NAME against the fake apiserver. $1: the kctl binary.
#  - 3 pods, /tmp/marker created in one of them (docker exec on the fake's pod container);
#    `--exec 'test ! -e /tmp/marker' --continue-on-error` exits 1 and says PARTIAL;
#  - the journal (KCTL_STATE_DIR in the test's dir) has one line per pod: the marked pod
#    failed, the two others ok, one patch id; each pod's io.kctl.patch annotation agrees
#    with its journal line (patch id, op, digest, outcome, time);
#  - without --continue-on-error the first failure stops the rest (skipped, not journaled);
#  - --copy of a small file arrives with its content in every pod, journaled and annotated.
# Needs DOCKER_HOST (hack/engine up).
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
kctl=$1
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-patch.XXXXXX)
img=kctl-kubetest-patch-$$/busybox
cleanup() {
	"$fake/stop.sh" "$work/f" || true
	"$(dirname "$0")/image.sh" remove "$img" || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
"$(dirname "$0")/image.sh" build "$img"
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
echo "kube-patch: ok"
