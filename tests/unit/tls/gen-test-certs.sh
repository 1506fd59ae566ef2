#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the test-only TLS material of the unit tests (committed; run again to renew,
# valid for 100 years). ca.pem signs server.pem, whose certificate names only
# server.pia.test (not 127.0.0.1, so a check against the URL's host fails, as PIA's
# gateways name the server and not the IP); other-ca.pem signs other-server.pem for the
# same name: a CA the client does not know; token.pem (by ca.pem) names 127.0.0.1, as a
# token API reached by its URL's host. EC keys: handshakes in milliseconds.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ca() {
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$tmp/$1.key" -out "$1.pem" -days 36500 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

# server NAME CA CN SAN
server() {
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$tmp/$1.key" -out "$tmp/$1.csr" -subj "/CN=$3"
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$4" >"$tmp/ext"
	openssl x509 -req -in "$tmp/$1.csr" -CA "$2.pem" -CAkey "$tmp/$2.key" -CAcreateserial -CAserial "$tmp/$2.srl" \
		-days 36500 -extfile "$tmp/ext" -out "$tmp/$1.crt"
	# certificate then key: g_tls_certificate_new_from_file() reads both
	cat "$tmp/$1.crt" "$tmp/$1.key" >"$1.pem"
}

ca ca "portmap test CA"
ca other-ca "portmap other test CA"
server server ca server.pia.test DNS:server.pia.test
server other-server other-ca server.pia.test DNS:server.pia.test
server token ca token.pia.test IP:127.0.0.1
