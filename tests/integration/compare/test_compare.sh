#!/usr/bin/env bash
# kctl compare end to end with the demo images: both walks run, the report
# files are valid, the immutable steps show no drift and no failed probe
# request, the mutable steps show the drift they caused (consistent with
# kctl drift run separately on a replica patched the same way), and the
# --fault partial step is reported partial with two states.
set -uo pipefail
kctl=${KCTL:-$KCTL_BUILD_DIR/shim/cli/kctl}
src=${KCTL_SOURCE_DIR:?}
reg=127.0.0.1:5000/kctl-demo
app=kctl-test-cmp
port=18280
fails=0
tmp=$(mktemp -d)

if [ -z "${DOCKER_HOST:-}" ]; then
	echo "SKIP: DOCKER_HOST is not set (run through hack/test)"
	exit 77
fi

cleanup() {
	for a in $app-immutable $app-mutable $app-check; do
		ids=$(docker ps -aq --filter "label=io.kctl.app=$a")
		[ -n "$ids" ] && docker rm -f $ids >/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

manifest() { # name port
	sed -e "s/name: kctl-demo/name: $1/; s/app: kctl-demo/app: $1/" \
		-e "s/value: \"8080\"/value: \"$2\"/; s/containerPort: 8080/containerPort: $2/" \
		"$src/manifests/demo-app.yaml" >"$tmp/$1.yaml"
}

manifest $app $port
echo "== kctl compare v1 -> v2 -> v3, 3 replicas, --fault partial"
if ! "$kctl" compare -f "$tmp/$app.yaml" --versions "$reg:v1,$reg:v2,$reg:v3" --replicas 3 \
	--rate 50 --out "$tmp/out" --fault partial >"$tmp/table" 2>"$tmp/err"; then
	cat "$tmp/table" "$tmp/err"
	fail "compare exited non-zero"
fi
cat "$tmp/table"
grep -q "immutable" "$tmp/table" && grep -q "mutable" "$tmp/table" || fail "table lacks rows"
[ -z "$(docker ps -aq --filter "label=io.kctl.app=$app-immutable")$(docker ps -aq --filter "label=io.kctl.app=$app-mutable")" ] ||
	fail "compare left containers behind"

echo "== report.json"
python3 - "$tmp/out/report.json" >"$tmp/check" 2>&1 <<'PY' || { cat "$tmp/check"; fail "report.json"; }
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)
need(r.get("schema", "").startswith("kctl-compare-report/"), "schema")
need(len(r["steps"]) == 2, "two steps")
def files(res):
    return sum((d["added"] or 0) + (d["changed"] or 0) + (d["deleted"] or 0) for d in res["drift"]["replicas"])
for i, s in enumerate(r["steps"]):
    im, mu = s["immutable"], s["mutable"]
    for name, res in (("immutable", im), ("mutable", mu)):
        for f in ("wall_ms", "cpu_seconds", "peak_memory_bytes", "image_bytes_stored"):
            need(res[f] is not None, f"step {i} {name} {f} measured")
        need(res["probe"]["requests"] and res["probe"]["requests"] > 0, f"step {i} {name} probe ran")
        need(res["api"]["calls"] and res["api"]["calls"] > 0, f"step {i} {name} api calls counted")
        need(len(res["drift"]["replicas"]) == 3, f"step {i} {name} drift of 3 replicas")
        need(len(res["probe"]["samples"]) == res["probe"]["requests"], f"step {i} {name} raw samples")
    need(im["outcome"] == "ok", f"step {i} immutable ok")
    need(im["probe"]["failures"] == 0, f"step {i} immutable probe failures {im['probe']['failures']}")
    need(files(im) == 0, f"step {i} immutable drift {files(im)}")
    need(im["drift"]["distinct_states"] == 1, f"step {i} immutable states")
    need(files(mu) > 0, f"step {i} mutable shows drift")
need(r["steps"][0]["mutable"]["outcome"] == "partial", "fault: first mutable step partial")
need(r["steps"][0]["mutable"]["drift"]["distinct_states"] >= 2, "fault: two states")
for p in problems:
    print("problem:", p)
sys.exit(1 if problems else 0)
PY

echo "== report.html"
python3 - "$tmp/out/report.html" <<'PY' || fail "report.html"
import sys, xml.etree.ElementTree as ET
text = open(sys.argv[1]).read()
ET.fromstring(text.split("?>", 1)[-1] if text.startswith("<?xml") else text.replace("<!DOCTYPE html>", "", 1))
assert "<script" not in text.lower(), "no scripts"
assert text.count("<svg") >= 6, "charts"
assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "").replace("http://127.0.0.1", ""), "nothing loaded from outside"
PY
if command -v chromium >/dev/null; then
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run --user-data-dir="$tmp/chrome" \
		--window-size=1200,2400 --screenshot="$tmp/shot.png" "file://$tmp/out/report.html" >/dev/null 2>&1
	[ -s "$tmp/shot.png" ] || fail "chromium did not render report.html"
fi

echo "== mutable drift agrees with kctl drift run separately"
manifest $app-check $((port + 1))
"$kctl" rollout -f "$tmp/$app-check.yaml" --mode mutable --image "$reg:v1" >"$tmp/o" 2>&1 || { cat "$tmp/o"; fail "deploy check app"; }
"$kctl" patch "$app-check" --to-image "$reg:v2" >"$tmp/o" 2>&1 || { cat "$tmp/o"; fail "patch check app"; }
"$kctl" drift "$app-check" -o json >"$tmp/drift.json"
[ $? = 3 ] || fail "kctl drift did not exit 3 on a patched app"
python3 - "$tmp/out/report.json" "$tmp/drift.json" <<'PY' || fail "drift figures disagree"
import json, sys, collections
rep = json.load(open(sys.argv[1]))
drift = json.load(open(sys.argv[2]))
step = rep["steps"][0]["mutable"]["drift"]["replicas"]
# The replicas the fault did not touch share the most common state.
common = collections.Counter(d["state"] for d in step).most_common(1)[0][0]
want = {(d["added"], d["changed"], d["deleted"]) for d in step if d["state"] == common}
got = {(d["added"], d["changed"], d["deleted"]) for d in drift["replicas"]}
print("report:", want, "kctl drift:", got)
sys.exit(0 if want == got and len(want) == 1 else 1)
PY

echo "compare: $fails failure(s)"
[ "$fails" = 0 ]
