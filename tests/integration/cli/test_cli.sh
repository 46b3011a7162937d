#!/usr/bin/env bash
# The kctl command line against the real engine and registry: help and usage
# errors, version negotiation, image resolution checked against the
# registry's own Docker-Content-Digest, bad input failing with one line and
# exit 1, and dispatch by argv[0].
set -uo pipefail
kctl=${KCTL:-$KCTL_BUILD_DIR/shim/cli/kctl}
registry=127.0.0.1:5000
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${garbage_pid:-}" ] && kill "$garbage_pid" 2>/dev/null' EXIT

if [ -z "${DOCKER_HOST:-}" ]; then
	echo "SKIP: DOCKER_HOST is not set (run through hack/test)"
	exit 77
fi

check() { # name, expected exit, command...
	local name=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: exit $got, want $want"
		sed 's/^/  out: /' "$tmp/out" | head -5
		sed 's/^/  err: /' "$tmp/err" | head -5
		fails=$((fails + 1))
		return 1
	fi
	echo "ok   $name"
}

expect_in() { # name, file, text
	if ! grep -qF -- "$3" "$2"; then
		echo "FAIL $1: \"$3\" not in $(basename "$2"):"
		sed 's/^/  /' "$2" | head -5
		fails=$((fails + 1))
	fi
}

one_line_error() { # name
	local n
	n=$(wc -l <"$tmp/err")
	if [ "$n" != 1 ]; then
		echo "FAIL $1: error is $n lines, want 1:"
		sed 's/^/  /' "$tmp/err" | head -5
		fails=$((fails + 1))
	fi
}

json() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); print($1)"; }

# --help everywhere, usage errors exit 2.
check "help" 0 "$kctl" --help
expect_in "help lists rollout" "$tmp/out" "rollout"
for c in version image ps probe rollout; do
	check "$c --help" 0 "$kctl" "$c" --help
	expect_in "$c --help" "$tmp/out" "Usage: kctl $c"
done
check "no command" 2 "$kctl"
check "unknown command" 2 "$kctl" frobnicate
expect_in "unknown command" "$tmp/err" 'unknown command "frobnicate"'
check "bad output format" 2 "$kctl" ps -o yaml
expect_in "bad output format" "$tmp/err" 'unknown format "yaml"'
check "unknown option" 2 "$kctl" ps --bogus
expect_in "unknown option" "$tmp/err" "--bogus"

# version: negotiated API version from the real engine.
check "version" 0 "$kctl" version
expect_in "version" "$tmp/out" "API version:  1.41"
check "version json" 0 "$kctl" version -o json
[ "$(json 'd["engine"]["apiVersion"]')" = "1.41" ] || { echo "FAIL version json apiVersion"; fails=$((fails + 1)); }

# An engine that is missing or answers garbage: one line, exit 1.
check "missing socket" 1 env DOCKER_HOST=unix://$tmp/none.sock "$kctl" ps
one_line_error "missing socket"
expect_in "missing socket" "$tmp/err" "$tmp/none.sock"
python3 - "$tmp/garbage.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(8)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"this is not HTTP at all\r\n\r\n")
    c.close()
PY
garbage_pid=$!
for _ in $(seq 50); do [ -S "$tmp/garbage.sock" ] && break; sleep 0.1; done
check "garbage engine" 1 env DOCKER_HOST=unix://$tmp/garbage.sock "$kctl" ps
one_line_error "garbage engine"
check "non-loopback tcp engine refused" 1 env DOCKER_HOST=tcp://engine.invalid:2375 "$kctl" ps
one_line_error "non-loopback tcp engine refused"

# image resolve: the digest equals the registry's Docker-Content-Digest.
ref=$registry/kctl-demo:v1
check "image resolve" 0 "$kctl" image resolve "$ref"
got=$(cat "$tmp/out")
want=$(curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	-H 'Accept: application/vnd.oci.image.index.v1+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
	"http://$registry/v2/kctl-demo/manifests/v1" | tr -d '\r' |
	awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
if [ -z "$want" ] || [ "$got" != "$want" ]; then
	echo "FAIL resolve digest: kctl says '$got', registry says '$want'"
	fails=$((fails + 1))
fi
check "image resolve json" 0 "$kctl" image resolve -o json "$ref"
[ "$(json 'd["digest"]')" = "$want" ] || { echo "FAIL json digest"; fails=$((fails + 1)); }
[ "$(json 'd["platform"]')" = "linux/amd64" ] || { echo "FAIL json platform"; fails=$((fails + 1)); }
[ "$(json 'd["reference"]')" = "$ref" ] || { echo "FAIL json reference: $(json 'd["reference"]')"; fails=$((fails + 1)); }
json 'd["mediaType"]' >/dev/null || { echo "FAIL json mediaType"; fails=$((fails + 1)); }

check "bad reference" 1 "$kctl" image resolve "127.0.0.1:5000/Upper:case"
one_line_error "bad reference"
expect_in "bad reference" "$tmp/err" "must be lowercase"
check "missing tag" 1 "$kctl" image resolve "$registry/kctl-demo:no-such-tag"
one_line_error "missing tag"
expect_in "missing tag" "$tmp/err" "no-such-tag"
check "registry down" 1 "$kctl" image resolve "127.0.0.1:1/kctl-demo:v1"
one_line_error "registry down"
expect_in "registry down" "$tmp/err" "127.0.0.1:1"

# ps: JSON is an array; dispatch by argv[0].
check "ps json" 0 "$kctl" ps -a -o json
json 'type(d).__name__' | grep -qx list || { echo "FAIL ps json is not a list"; fails=$((fails + 1)); }
ln -s "$kctl" "$tmp/kctl-version"
check "argv0 dispatch" 0 "$tmp/kctl-version" -o json
json 'd["client"]["version"]' >/dev/null || { echo "FAIL argv0 json"; fails=$((fails + 1)); }
ln -s "$kctl" "$tmp/kctl-rollout"
check "argv0 rollout help" 0 "$tmp/kctl-rollout" --help
expect_in "argv0 rollout help" "$tmp/out" "Usage: kctl rollout"

echo "cli: $fails failure(s)"
[ "$fails" = 0 ]
