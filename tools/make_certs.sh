#!/usr/bin/env bash
# Makes the booth's TLS material: a local CA and a server certificate it signs.
# Usage: tools/make_certs.sh [DIR] (default certs). Existing files are kept unless FORCE=1.
# ECDSA P-256: about twice the TLS handshakes per second of RSA-2048 on these machines.
set -euo pipefail
dir=${1:-certs}
days=${DAYS:-825}
if [ -s "$dir/ca.crt" ] && [ -s "$dir/server.crt" ] && [ -s "$dir/server.key" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "certificates in $dir/ kept (make certs FORCE=1 replaces them)"
  exit 0
fi
command -v openssl >/dev/null || { echo "make certs needs openssl on PATH" >&2; exit 1; }
mkdir -p "$dir"
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key"
openssl req -x509 -new -sha256 -key "$work/ca.key" -subj "/CN=Election booth local CA" -days "$days" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$work/ca.crt"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/server.key"
openssl req -new -sha256 -key "$work/server.key" -subj "/CN=localhost" -out "$work/server.csr"
cat >"$work/server.ext" <<'EXT'
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
EXT
openssl x509 -req -sha256 -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days "$days" -extfile "$work/server.ext" \
  -out "$work/server.crt" 2>/dev/null
chmod 600 "$work/ca.key" "$work/server.key"
chmod 644 "$work/ca.crt" "$work/server.crt"
mv -f "$work/ca.key" "$work/ca.crt" "$work/server.key" "$work/server.crt" "$dir/"
echo "certificates written to $dir/: ca.crt, ca.key, server.crt, server.key"
