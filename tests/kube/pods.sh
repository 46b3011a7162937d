#!/usr/bin/env bash
# kube suite: exec on a Deployment's pods, tar copy and annotations (kube_pods.h)
# against the fake. $1: the test-kube-pods binary. Needs DOCKER_HOST.
set -euo pipefail
[ -n "${DOCKER_HOST:-}" ] || { echo "DOCKER_HOST not set: skipping"; exit 77; }
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kctl-kube-pods.XXXXXX)
img=kctl-kubetest-pods-$$/busybox
setup_fake_image
"$fake/start.sh" "$work/f" --id "kctl-kube-pods-$$" >/dev/null
api "$work/f" POST /apis/apps/v1/namespaces/default/deployments \
	"$(deployment_json pods "$img:v1" 3)" >/dev/null
wait_ready "$work/f" pods 3 >/dev/null
KUBECONFIG=$work/f/kubeconfig "$1"
