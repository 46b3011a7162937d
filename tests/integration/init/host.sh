#!/usr/bin/env bash
# kctl-shim on the host (as an ordinary process, a child subreaper):
#   host.sh signals|pgroup|exitcodes|zombies|guard|baseline
# Needs root and a kernel with seccomp user notification for `guard`.
set -euo pipefail

SHIM=${KCTL_SHIM:-${KCTL_BUILD_DIR:?}/shim/init/kctl-shim}
T=$(mktemp -d /tmp/kctl-test-shim-host.XXXXXX)
cleanup() {
	local p
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
wait_file() { # $1 file, up to 5 s
	for _ in $(seq 1 100); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	fail "timed out waiting for $1"
}
run() { "$SHIM" --no-baseline "$@"; }

# An app that records each of TERM INT HUP USR1 it receives; TERM ends it
# with 7 so the exit code proves the app, not the shim, decided.
APP='f=$1; for s in INT HUP USR1; do trap "echo $s >> $f" $s; done
trap "echo TERM >> $f; exit 7" TERM; : > $f.ready
while :; do sleep 0.05; done'

test_signals() {
	local f=$T/sig
	"$SHIM" --no-baseline -- sh -c "$APP" app "$f" 2>/dev/null &
	local pid=$!
	wait_file "$f.ready"
	for s in INT HUP USR1; do
		kill -s "$s" "$pid"
		for _ in $(seq 1 100); do grep -qx "$s" "$f" 2>/dev/null && break; sleep 0.05; done
		grep -qx "$s" "$f" || fail "$s did not reach the app"
	done
	kill -s TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	grep -qx TERM "$f" || fail "TERM did not reach the app"
	[ "$rc" -eq 7 ] || fail "exit code $rc after TERM, want the app's 7"
	echo "signals ok: $(tr '\n' ' ' <"$f")"
}

test_pgroup() {
	# The app starts a helper in its own process group that records TERM;
	# with --pgroup the helper gets it too, without it only the app does.
	local mode
	for mode in with without; do
		local f=$T/pg-$mode flag=()
		[ $mode = with ] && flag=(--pgroup)
		"$SHIM" --no-baseline "${flag[@]}" -- sh -c '
			sh -c "trap \"echo helper >> $1; exit 0\" TERM; : > $1.h; while :; do sleep 0.05; done" &
			trap "echo app >> $1; sleep 0.3; kill $! 2>/dev/null; exit 0" TERM; : > $1.ready
			while :; do sleep 0.05; done' app "$f" &
		local pid=$!
		wait_file "$f.ready"
		wait_file "$f.h"
		kill -s TERM "$pid"
		wait "$pid" || true
		grep -qx app "$f" || fail "$mode --pgroup: app got no TERM"
		if [ $mode = with ]; then
			grep -qx helper "$f" || fail "--pgroup: the helper got no TERM"
		else
			! grep -qx helper "$f" || fail "without --pgroup the helper got TERM"
		fi
	done
	echo "pgroup ok"
}

test_exitcodes() {
	local code want got ref
	for code in 0 1 42; do
		got=0
		run -- sh -c "exit $code" || got=$?
		[ "$got" -eq "$code" ] || fail "exit $code passed on as $got"
	done
	for sig in KILL TERM SEGV; do
		got=0
		run -- sh -c "kill -s $sig \$\$" || got=$?
		ref=0
		tini -s -- sh -c "kill -s $sig \$\$" 2>/dev/null || ref=$?
		[ "$got" -eq "$ref" ] || fail "death by $sig: kctl-shim $got, tini $ref"
		[ "$got" -gt 128 ] || fail "death by $sig gave $got"
	done
	got=0
	run -- /nonexistent/app 2>/dev/null || got=$?
	[ "$got" -eq 127 ] || fail "missing app gave $got, want 127"
	echo "exitcodes ok"
}

# Counts processes whose parent is $1, and those of them that are zombies.
count_children='n=0; z=0; for f in /proc/[0-9]*/stat; do
	read -r _ _ st pp _ < "$f" 2>/dev/null || continue
	[ "$pp" = "$1" ] || continue; n=$((n+1)); [ "$st" = Z ] && z=$((z+1)); done; echo "$n $z"'

test_zombies() {
	# 100 grandchildren are orphaned at once (their parent subshell exits)
	# and re-parented to the shim; when they exit it must reap them all:
	# the shim's children must drop back to just the app, with no zombie.
	local out
	out=$(run -- sh -c '
		for i in $(seq 1 100); do (sleep 8 &); done
		before=$(sh -c "$1" x "$PPID" 2>/dev/null)
		i=0
		while [ $i -lt 300 ]; do
			after=$(sh -c "$1" x "$PPID" 2>/dev/null)
			[ "${after%% *}" = 1 ] && break
			sleep 0.1; i=$((i+1))
		done
		echo "$before / $after"' app "$count_children")
	local before_n after_n after_z
	before_n=$(echo "$out" | awk '{print $1}')
	after_n=$(echo "$out" | awk '{print $4}')
	after_z=$(echo "$out" | awk '{print $5}')
	# before: the 100 orphans plus the app itself are the shim's children
	[ "$before_n" -ge 101 ] || fail "orphans were not re-parented to the shim ($out)"
	[ "$after_z" -eq 0 ] || fail "$after_z zombies left ($out)"
	[ "$after_n" -eq 1 ] || fail "children left after reaping: $out"
	echo "zombies ok (children, zombies: $out)"
}

test_guard() {
	local w=$T/w o=$T/outside log=$T/guard.log st=$T/state
	mkdir -p "$w" "$o" "$T/m"
	cp /bin/true "$o/bin"
	chmod 700 "$o/bin"
	# enforce: outside writes, chmod, rename out, mkdir, symlink, mount fail
	local script='
		r() { "$@" 2>/dev/null && echo "$1 ok" || echo "$1 fail"; }
		echo hi > "$1/w/a" && echo "write-w ok" || echo "write-w fail"
		(echo hi > "$1/outside/x") 2>/dev/null && echo "write-out ok" || echo "write-out fail"
		r chmod 755 "$1/outside/bin"
		r mkdir "$1/outside/d"
		r ln -s /x "$1/outside/l"
		r busybox mount -t tmpfs none "$1/m"
		cat "$1/outside/bin" > /dev/null && echo "read ok"
		mv "$1/w/a" "$1/w/b" && echo "mv-in ok"'
	local out
	out=$("$SHIM" --no-baseline --state-dir "$st" --guard enforce --writable "$w" -- \
		sh -c "$script" app "$T" 2>"$log")
	echo "$out" | grep -qx "write-w ok" || fail "enforce: writable write failed: $out"
	echo "$out" | grep -qx "write-out fail" || fail "enforce: outside write passed"
	echo "$out" | grep -qx "chmod fail" || fail "enforce: chmod passed"
	echo "$out" | grep -qx "mkdir fail" || fail "enforce: mkdir passed"
	echo "$out" | grep -qx "ln fail" || fail "enforce: symlink passed"
	echo "$out" | grep -qx "busybox fail" || fail "enforce: mount passed"
	echo "$out" | grep -qx "read ok" || fail "enforce: read failed"
	echo "$out" | grep -qx "mv-in ok" || fail "enforce: rename inside writable failed"
	for s in '"syscall":"openat","path":"'"$o"'/x","verdict":"denied"' \
		'"syscall":"fchmodat","path":"'"$o"'/bin","verdict":"denied"' \
		'"syscall":"mkdir","path":"'"$o"'/d"' '"syscall":"symlink' \
		'"syscall":"mount","path":null,"verdict":"denied","mode":"enforce","errno":"EPERM"'; do
		grep -qF "$s" "$log" || fail "enforce: no log line with $s"
	done
	grep -q "$w" "$log" && fail "enforce: a writable-dir decision was logged"
	local nd
	nd=$(grep -o '"denied":[0-9]*' "$st/guard.json" | cut -d: -f2)
	[ "$nd" -ge 5 ] && [ "$nd" -eq "$(grep -c '"verdict":"denied"' "$log")" ] ||
		fail "enforce: counters $(cat "$st/guard.json") do not match the log"
	[ -e "$o/x" ] && fail "enforce: $o/x exists"
	[ "$(stat -c %a "$o/bin")" = 700 ] || fail "enforce: chmod happened"

	# audit: the same pass, logged
	rm -f "$log"
	out=$("$SHIM" --no-baseline --state-dir "$st" --guard audit --writable "$w" -- \
		sh -c 'echo hi > "$1/x" && chmod 755 "$1/bin" && echo done' app "$o" 2>"$log")
	[ "$out" = done ] || fail "audit: mutations failed: $out"
	grep -qF '"path":"'"$o"'/x","verdict":"audit"' "$log" || fail "audit: write not logged"
	grep -qF '"path":"'"$o"'/bin","verdict":"audit"' "$log" || fail "audit: chmod not logged"

	# off: nothing logged
	rm -f "$log" "$o/x"
	out=$("$SHIM" --no-baseline --guard off -- sh -c 'echo hi > "$1/x" && echo done' app "$o" \
		2>"$log")
	[ "$out" = done ] || fail "off: write failed"
	[ -s "$log" ] && fail "off: something was logged: $(cat "$log")"

	# read-only opens never reach the supervisor
	"$SHIM" --no-baseline --state-dir "$st" --guard enforce -- \
		sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do cat /etc/passwd /bin/true > /dev/null; done; ls -R /etc > /dev/null' \
		>/dev/null 2>"$log" || fail "enforce: read-only loop failed"
	# only the '> /dev/null' redirections (write opens of /dev/null) notify
	local nn
	nn=$(grep -o '"notifications":[0-9]*' "$st/guard.json" | cut -d: -f2)
	[ "$nn" -le 11 ] || fail "read-only opens were notified: $(cat "$st/guard.json")"
	[ -s "$log" ] && fail "read-only loop logged: $(cat "$log")"

	# a symlink inside a writable dir does not lead writes outside it
	ln -s "$o" "$w/escape"
	out=$("$SHIM" --no-baseline --guard enforce --writable "$w" -- \
		sh -c '(echo x > "$1/escape/y") 2>/dev/null && echo passed || echo refused' app "$w" 2>"$log")
	[ "$out" = refused ] || fail "enforce: write through symlink escaped the writable dir"
	echo "guard ok"
}

test_baseline() {
	local root=$T/root st=$T/bst out rc
	mkdir -p "$root/etc" "$root/tmp" "$st"
	echo one >"$root/etc/edit"
	echo two >"$root/etc/gone"
	head -c 300000 /dev/urandom >"$root/etc/big"
	"$SHIM" --state-dir "$st" --baseline-root "$root" --writable "$root/tmp" --guard off -- true
	[ -s "$st/baseline" ] || fail "no baseline written"
	rc=0
	out=$("$SHIM" drift --state-dir "$st") || rc=$?
	[ "$rc" -eq 0 ] || fail "drift found changes in an untouched tree: $out"
	echo three >>"$root/etc/edit"
	rm "$root/etc/gone"
	echo new >"$root/etc/new"
	echo scratch >"$root/tmp/ignored"
	rc=0
	out=$("$SHIM" drift --state-dir "$st") || rc=$?
	[ "$rc" -eq 1 ] || fail "drift exit $rc, want 1"
	python3 - "$out" <<'PY' || fail "drift output: $out"
import json, sys
d = json.loads(sys.argv[1])
assert [e["path"] for e in d["added"]] == ["/etc/new"], d["added"]
assert [e["path"] for e in d["changed"]] == ["/etc/edit"], d["changed"]
assert [e["path"] for e in d["deleted"]] == ["/etc/gone"], d["deleted"]
assert d["summary"]["reused_hashes"] >= 1, d["summary"]
PY
	echo "baseline ok"
}

case "${1:?usage: host.sh TEST}" in
signals | pgroup | exitcodes | zombies | guard | baseline) "test_$1" ;;
*) fail "unknown test $1" ;;
esac
