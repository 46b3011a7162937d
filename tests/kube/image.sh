#!/usr/bin/env bash
# image.sh build|remove REPO: the pods' test images REPO:v1 and REPO:v2 (FROM
# scratch + static busybox; /etc/kctl-version says which), built locally with
# the legacy builder. Each test passes its own REPO. DOCKER_HOST from the env.
set -euo pipefail
repo=${2:?image.sh build|remove REPO}
case ${1:-build} in
build)
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' EXIT
	cp /bin/busybox "$ctx/busybox"
	for v in v1 v2; do
		echo "$v" >"$ctx/version"
		cat >"$ctx/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY version /etc/kctl-version
CMD ["/bin/sleep", "100000"]
DF
		DOCKER_BUILDKIT=0 docker build -q -t "$repo:$v" "$ctx" >/dev/null 2>"$ctx/err" || { cat "$ctx/err" >&2; exit 1; }
	done
	;;
remove)
	# --no-prune: the untagged parents are build-cache layers other tests building the same
	# steps at the same time may be using.
	docker rmi -f --no-prune "$repo:v1" "$repo:v2" >/dev/null 2>&1 || true
	;;
esac
