# Helpers for the kube suite's scripts (sourced).
fake=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fake
py=${KCTL_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

# The usual set-up of a script with one fake (in $work/f) and its own test image $img:
# on exit the fake is stopped, the image removed and $work deleted; the image is built.
cleanup_fake_image() {
	"$fake/stop.sh" "$work/f" || true
	"$fake/../image.sh" remove "$img" || true
	rm -rf "$work"
}
setup_fake_image() {
	trap cleanup_fake_image EXIT
	"$fake/../image.sh" build "$img"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# registry_digest IMAGE TAG: the digest 127.0.0.1:5000 answers for IMAGE:TAG (IMAGE with
# or without the registry prefix).
registry_digest() {
	curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://127.0.0.1:5000/v2/${1#127.0.0.1:5000/}/manifests/$2" |
		tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

# api DIR METHOD PATH [BODY]: a request to the fake in DIR with the test token.
api() {
	local dir=$1 method=$2 path=$3 body=${4:-}
	curl -sS --fail-with-body --cacert "$dir/ca.crt" -H "Authorization: Bearer kctl-test-token" \
		-X "$method" ${body:+-H "Content-Type: application/json" --data "$body"} \
		"https://127.0.0.1:$(cat "$dir/port")$path"
}

# deployment_json NAME IMAGE REPLICAS
deployment_json() {
	cat <<JSON
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"$1"},
 "spec":{"replicas":$3,"selector":{"matchLabels":{"app":"$1"}},
  "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}},
  "template":{"metadata":{"labels":{"app":"$1"}},
   "spec":{"containers":[{"name":"app","image":"$2",
    "readinessProbe":{"exec":{"command":["cat","/etc/kctl-version"]},"periodSeconds":1}}]}}}}
JSON
}

# wait_ready DIR APP N: waits until N pods of APP are ready; prints their names.
wait_ready() {
	local dir=$1 app=$2 n=$3 out
	for _ in $(seq 1 360); do
		out=$(api "$dir" GET "/api/v1/namespaces/default/pods?labelSelector=app%3D$app" |
			"$py" -c '
import json, sys
pods = json.load(sys.stdin)["items"]
ready = [p["metadata"]["name"] for p in pods if any(c["type"] == "Ready" and
         c["status"] == "True" for c in p["status"].get("conditions", []))]
print(" ".join(ready) if len(ready) == int(sys.argv[1]) == len(pods) else "")' "$n")
		if [ -n "$out" ]; then
			echo "$out"
			return 0
		fi
		sleep 0.5
	done
	echo "pods of $app not ready in time" >&2
	return 1
}
