#!/usr/bin/env bash
# Starts the fake kube-apiserver: start.sh DIR [fake_apiserver.py options...]
# Generates (once per DIR) a test CA, a server certificate for 127.0.0.1, a
# client certificate (CN=kctl-test) and an unknown CA for negative tests;
# writes DIR/kubeconfig (contexts: token (current), cert, readonly, forbidden)
# and prints the port. Pods are containers on DOCKER_HOST; stop with stop.sh DIR.
set -euo pipefail
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
cd "$dir"

if [ ! -f client.crt ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=kctl-fake-ca" \
		-keyout ca.key -out ca.crt 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=kctl-unknown-ca" \
		-keyout other-ca.key -out other-ca.crt 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" -keyout server.key \
		-out server.csr 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.crt 2>/dev/null
	# A server certificate from a CA the client does not trust.
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" -keyout rogue.key \
		-out rogue.csr 2>/dev/null
	openssl x509 -req -in rogue.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial \
		-days 2 -extfile server.ext -out rogue.crt 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=system:masters/CN=kctl-test" \
		-keyout client.key -out client.csr 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile client.ext -out client.crt 2>/dev/null
	cat >tokens.csv <<'TOK'
kctl-test-token,kctl-test
kctl-readonly-token,viewer
kctl-forbidden-token,nobody
TOK
fi

# The system interpreter: version-manager shims (pyenv) add seconds per start.
py=${KCTL_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
rm -f port
"$py" "$here/fake_apiserver.py" --dir "$dir" --tokens tokens.csv --cert server.crt \
	--key server.key --client-ca ca.crt --readonly-user viewer --forbidden-user nobody "$@" \
	>>stdout.log 2>&1 </dev/null &
echo $! >pid
for _ in $(seq 1 100); do
	[ -f port ] && break
	if ! kill -0 "$(cat pid)" 2>/dev/null; then
		echo "fake apiserver died:" >&2
		tail -20 stdout.log >&2
		exit 1
	fi
	sleep 0.1
done
[ -f port ] || { echo "fake apiserver did not start" >&2; exit 1; }
port=$(cat port)

b64() { base64 -w0 <"$1"; }
cat >kubeconfig <<KC
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(b64 ca.crt)
users:
- name: token-user
  user:
    token: kctl-test-token
- name: cert-user
  user:
    client-certificate-data: $(b64 client.crt)
    client-key-data: $(b64 client.key)
- name: readonly-user
  user:
    token: kctl-readonly-token
- name: forbidden-user
  user:
    token: kctl-forbidden-token
contexts:
- name: token
  context: {cluster: fake, user: token-user, namespace: default}
- name: cert
  context: {cluster: fake, user: cert-user, namespace: default}
- name: readonly
  context: {cluster: fake, user: readonly-user, namespace: default}
- name: forbidden
  context: {cluster: fake, user: forbidden-user, namespace: default}
current-context: token
KC
echo "$port"
