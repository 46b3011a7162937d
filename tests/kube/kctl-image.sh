#!/usr/bin/env bash
# kube suite: hack/kctl-image builds a FROM scratch kctl image that runs with no
# network (`kctl version`), holds nothing but kctl, its libraries and CA certs, and
# works in-cluster: with --network host (loopback only) against the fake apiserver,
# a fake service-account directory mounted where Kubernetes mounts it, as uid 65532.
# $1: the kctl binary. Needs DOCKER_HOST.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
kctl=$1
src=${KCTL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
source "$(dirname "$0")/lib.sh"
tag=kctl-kubetest-image-$$:test
work=$(mktemp -d /tmp/kctl-kube-image.XXXXXX)
id=kctl-kube-image-$$
cleanup() {
	"$fake/stop.sh" "$work/f" || true
	docker rmi -f --no-prune "$tag" >/dev/null 2>&1 || true
	"$(dirname "$0")/image.sh" remove "kctl-kubetest-image-$$/busybox" || true
	rm -rf "$work"
}
trap cleanup EXIT
[ "$("$src/hack/kctl-image" --kctl "$kctl" --tag "$tag")" = "$tag" ] || fail "kctl-image output"
# With no network there is no engine to ask, so `kctl version` exits 1 after printing
# its own version; what matters is that the binary loads and runs in the image.
rc=0
out=$(docker run --rm --network none "$tag" version 2>&1) || rc=$?
echo "$out"
[ "$rc" -le 1 ] || fail "kctl version in the image: exit $rc"
echo "$out" | grep -Eq '^  Version: +[0-9]' || fail "version output: $out"
docker run --rm --network none "$tag" rollout --help | grep -q -- '--kubeconfig' ||
	fail "kctl rollout --help in the image"
# Nothing but kctl, its libraries, CA bundle and the small /etc files (docker export
# adds dev/console, etc/mtab and .dockerenv itself).
cid=$(docker create "$tag")
docker export "$cid" | tar -t | grep -v '/$' | sort >"$work/files"
docker rm "$cid" >/dev/null
grep -qx 'usr/local/bin/kctl' "$work/files" || fail "no kctl in the image"
grep -qx 'etc/ssl/certs/ca-certificates.crt' "$work/files" || fail "no CA bundle"
other=$(grep -Ev '^(usr/local/bin/kctl|etc/ssl/certs/ca-certificates.crt|etc/(nsswitch.conf|hosts|passwd|group|hostname|resolv.conf|mtab)|dev/console|.dockerenv|(usr/)?lib(64|x32)?/.*\.so(\.[0-9]+)*)$' "$work/files" || true)
[ -z "$other" ] || fail "unexpected files in the image: $other"

# In-cluster, as the Job runs it: service account mounted read-only, uid 65532.
"$(dirname "$0")/image.sh" build "kctl-kubetest-image-$$/busybox"
"$fake/start.sh" "$work/f" --id "$id" >/dev/null
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(deployment_json imgtest "kctl-kubetest-image-$$/busybox:v1" 1)" >/dev/null
wait_ready "$work/f" imgtest 1 >/dev/null
mkdir "$work/sa"
cp "$work/f/ca.crt" "$work/sa/ca.crt"
echo kctl-test-token >"$work/sa/token"
echo default >"$work/sa/namespace"
chmod -R a+rX "$work/sa" "$work"
docker run --rm --network host --read-only \
	-v "$work/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
	-e KUBERNETES_SERVICE_HOST=127.0.0.1 -e KUBERNETES_SERVICE_PORT="$(cat "$work/f/port")" \
	-e KCTL_ENGINE=kube "$tag" rollout status deployment/imgtest --timeout 60s ||
	fail "in-cluster kctl in the image"
echo PASS
