#!/usr/bin/env bash
# kube suite: exec in pods of the fake apiserver through kctl's WebSocket
# client. $1: the test-kube-exec binary. Needs DOCKER_HOST (hack/engine up).
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-exec.XXXXXX)
img=kctl-kubetest-exec/busybox
cleanup() {
	"$fake/stop.sh" "$work/a" || true
	"$fake/stop.sh" "$work/b" || true
	"$(dirname "$0")/image.sh" remove "$img" || true
	rm -rf "$work"
}
trap cleanup EXIT
"$(dirname "$0")/image.sh" build "$img"
"$fake/start.sh" "$work/a" --id "kctl-kube-exec-a-$$" >/dev/null
"$fake/start.sh" "$work/b" --id "kctl-kube-exec-b-$$" --exec-protocols v4.channel.k8s.io \
	--ws-chaos >/dev/null
for s in a b; do
	api "$work/$s" POST /apis/apps/v1/namespaces/default/deployments \
		"$(deployment_json ex "$img:v1" 1)" >/dev/null
done
export KUBE_A_POD KUBE_B_POD
KUBE_A_POD=$(wait_ready "$work/a" ex 1)
KUBE_B_POD=$(wait_ready "$work/b" ex 1)
export KUBE_A_URL=https://127.0.0.1:$(cat "$work/a/port") KUBE_A_CA=$work/a/ca.crt
export KUBE_B_URL=https://127.0.0.1:$(cat "$work/b/port") KUBE_B_CA=$work/b/ca.crt
export KUBE_A_CLIENT_CERT=$work/a/client.crt KUBE_A_CLIENT_KEY=$work/a/client.key
export KUBE_OTHER_CA=$work/a/other-ca.crt
"$1"
