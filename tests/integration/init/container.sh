#!/usr/bin/env bash
# kctl-shim as PID 1 in a FROM scratch container (static kctl-shim and
# busybox-static only), against the engine at $DOCKER_HOST:
#   container.sh signals|exitcodes|zombies|guard|drift
# Exits 77 (skipped) when no engine answers. Containers and the image are
# named kctl-test-shim-<test>-<pid> and removed on exit, also on failure.
set -euo pipefail

SHIM=${KCTL_SHIM:-${KCTL_BUILD_DIR:?}/shim/init/kctl-shim}
TEST=${1:?usage: container.sh TEST}
if [ -z "${DOCKER_HOST:-}" ] || ! docker version >/dev/null 2>&1; then
	echo "no engine at DOCKER_HOST; run hack/engine up" >&2
	exit 77
fi
NAME=kctl-test-shim-$TEST-$$
IMG=$NAME:test
T=$(mktemp -d /tmp/kctl-test-shim-ctr.XXXXXX)
cleanup() {
	docker ps -aq --filter "name=^$NAME" | xargs -r docker rm -f >/dev/null 2>&1 || true
	docker rmi -f --no-prune "$IMG" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

build_image() {
	local c=$T/ctx
	mkdir -p "$c/bin" "$c/etc" "$c/tmp" "$c/run"
	chmod 1777 "$c/tmp"
	cp "$SHIM" "$c/kctl-shim"
	cp /bin/busybox "$c/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$c/bin/$a"
	done
	echo "setting=1" >"$c/etc/app.conf"
	echo "old" >"$c/etc/old.conf"
	echo "keep" >"$c/etc/keep.conf"
	cat >"$c/Dockerfile" <<'DF'
FROM scratch
COPY . /
ENV PATH=/bin
ENTRYPOINT ["/kctl-shim"]
DF
	DOCKER_BUILDKIT=0 docker build -q -t "$IMG" "$c" >/dev/null || fail "image build failed"
}

# docker run in the foreground; echoes nothing, returns the container's exit code
drun() {
	docker run --rm --network none --name "$NAME-$RANDOM" "$@"
}

test_exitcodes() {
	local code got
	for code in 0 1 42; do
		got=0
		drun "$IMG" --guard off -- sh -c "exit $code" || got=$?
		[ "$got" -eq "$code" ] || fail "exit $code came out as $got"
	done
	got=0
	drun "$IMG" -- sh -c 'kill -s KILL $$' || got=$?
	[ "$got" -eq 137 ] || fail "death by KILL came out as $got, want 137"
	got=0
	drun "$IMG" -- sh -c 'kill -s TERM $$' || got=$?
	[ "$got" -eq 143 ] || fail "death by TERM came out as $got, want 143"
	got=0
	drun "$IMG" -- sh -c 'echo $$' >"$T/pid" || true
	[ "$(cat "$T/pid")" != 1 ] || fail "the app ran as PID 1, not under the shim"
	echo "exitcodes ok"
}

test_signals() {
	local c=$NAME-sig
	docker run -d --network none --name "$c" "$IMG" --guard off -- sh -c '
		for s in INT HUP USR1; do trap "echo got-$s" $s; done
		trap "echo got-TERM; exit 9" TERM
		echo ready
		while :; do sleep 0.05; done' >/dev/null
	local s
	for _ in $(seq 1 100); do docker logs "$c" 2>&1 | grep -q ready && break; sleep 0.1; done
	for s in INT HUP USR1; do
		docker kill -s "$s" "$c" >/dev/null
		for _ in $(seq 1 50); do docker logs "$c" 2>&1 | grep -q "got-$s" && break; sleep 0.1; done
		docker logs "$c" 2>&1 | grep -q "got-$s" || fail "$s did not reach the app"
	done
	docker stop -t 10 "$c" >/dev/null
	docker logs "$c" 2>&1 | grep -q got-TERM || fail "TERM (docker stop) did not reach the app"
	local code
	code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
	[ "$code" = 9 ] || fail "exit code after docker stop $code, want the app's 9"
	echo "signals ok"
}

test_zombies() {
	# As PID 1: 100 orphaned grandchildren, then no zombie may remain.
	local out
	out=$(drun "$IMG" --guard off -- sh -c '
		count() { n=0; z=0; for f in /proc/[0-9]*/stat; do
			read -r _ _ st pp _ < "$f" 2>/dev/null || continue
			[ "$pp" = 1 ] || continue; n=$((n+1)); [ "$st" = Z ] && z=$((z+1)); done
			echo "$n $z"; }
		for i in $(seq 1 100); do (sleep 8 &); done
		before=$(count)
		i=0; while [ $i -lt 300 ]; do after=$(count); [ "${after%% *}" = 1 ] && break;
			sleep 0.1; i=$((i+1)); done
		echo "$before / $after"')
	local b a z
	b=$(echo "$out" | awk '{print $1}')
	a=$(echo "$out" | awk '{print $4}')
	z=$(echo "$out" | awk '{print $5}')
	[ "$b" -ge 101 ] || fail "orphans were not PID 1's children: $out"
	[ "$z" -eq 0 ] && [ "$a" -eq 1 ] || fail "zombies or children left: $out"
	echo "zombies ok ($out)"
}

GUARD_APP='
	r() { "$@" 2>/dev/null && echo "$1 ok" || echo "$1 fail"; }
	(echo x > /etc/x) 2>/dev/null && echo "etc ok" || echo "etc fail"
	r chmod 700 /bin/busybox
	r mount -t tmpfs none /mnt
	(echo x > /tmp/x) 2>/dev/null && echo "tmp ok" || echo "tmp fail"'

guard_run() { # $1 mode, rest: docker run options; stdout in $T/out, stderr in $T/err
	local mode=$1
	shift
	drun "$@" "$IMG" --guard "$mode" --writable /tmp -- sh -c "mkdir -p /mnt 2>/dev/null; $GUARD_APP" \
		>"$T/out" 2>"$T/err" || true
}

want() { grep -qx "$1" "$T/out" || fail "$2: want '$1'; out: $(cat "$T/out") err: $(cat "$T/err")"; }
logged() { grep -qF "$1" "$T/err" || fail "$2: no log line with $1; err: $(cat "$T/err")"; }

test_guard() {
	# seccomp=unconfined so mount reaches the guard (Docker's own profile
	# refuses it first, unlogged); capabilities stay Docker's defaults.
	guard_run enforce --security-opt seccomp=unconfined
	want "etc fail" enforce
	want "chmod fail" enforce
	want "mount fail" enforce
	want "tmp ok" enforce
	logged '"path":"/etc/x","verdict":"denied","mode":"enforce","errno":"EROFS"' enforce
	logged '"path":"/bin/busybox","verdict":"denied"' enforce
	logged '"syscall":"mount","path":null,"verdict":"denied","mode":"enforce","errno":"EPERM"' enforce
	grep -q '"/tmp' "$T/err" && fail "enforce: a /tmp decision was logged"

	# Under Docker's default seccomp profile the guard still loads and
	# refuses the file mutations.
	guard_run enforce
	want "etc fail" "enforce, default profile"
	want "chmod fail" "enforce, default profile"
	want "tmp ok" "enforce, default profile"
	logged '"path":"/etc/x","verdict":"denied"' "enforce, default profile"

	guard_run audit --security-opt seccomp=unconfined
	want "etc ok" audit
	want "chmod ok" audit
	want "tmp ok" audit
	logged '"path":"/etc/x","verdict":"audit"' audit
	logged '"path":"/bin/busybox","verdict":"audit"' audit
	# mount is let through to the kernel, which refuses it (no CAP_SYS_ADMIN)
	logged '"syscall":"mount","path":null,"verdict":"audit"' audit

	guard_run off --security-opt seccomp=unconfined
	want "etc ok" off
	want "chmod ok" off
	want "tmp ok" off
	[ -s "$T/err" ] && fail "off: something was logged: $(cat "$T/err")"
	echo "guard ok"
}

test_drift() {
	local c=$NAME-drift
	docker run -d --network none --name "$c" "$IMG" --guard audit --writable /tmp -- \
		sleep 300 >/dev/null
	for _ in $(seq 1 100); do
		docker exec "$c" test -s /run/kctl-shim/baseline 2>/dev/null && break
		sleep 0.1
	done
	local out rc=0
	out=$(docker exec "$c" /kctl-shim drift) || rc=$?
	[ "$rc" -eq 0 ] || fail "drift before any change: exit $rc: $out"
	docker exec "$c" sh -c 'echo setting=2 > /etc/app.conf && echo new > /etc/added.conf &&
		rm /etc/old.conf && echo scratch > /tmp/scratch'
	rc=0
	out=$(docker exec "$c" /kctl-shim drift) || rc=$?
	[ "$rc" -eq 1 ] || fail "drift after changes: exit $rc, want 1: $out"
	python3 - "$out" <<'PY' || fail "drift output: $out"
import json, sys
d = json.loads(sys.argv[1])
assert [e["path"] for e in d["added"]] == ["/etc/added.conf"], d["added"]
assert [e["path"] for e in d["changed"]] == ["/etc/app.conf"], d["changed"]
assert [e["path"] for e in d["deleted"]] == ["/etc/old.conf"], d["deleted"]
assert d["guard"]["mode"] == "audit", d["guard"]
PY
	echo "drift ok: $out"
}

build_image
case "$TEST" in
signals | exitcodes | zombies | guard | drift) "test_$TEST" ;;
*) fail "unknown test $TEST" ;;
esac
