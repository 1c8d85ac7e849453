#!/usr/bin/env bash
# make_certs.sh DIR — test certificates, generated at test time with the openssl CLI (no
# private key is ever committed):
#   ca.pem / ca.key           the test CA
#   broker.pem                broker key + certificate chain in one PEM file (KIP-651 layout)
#   broker-cert.pem, broker-key.pem   the same as separate files
#   alice.pem / alice.key     client certificate CN=alice,OU=eng,O=Eddy Test, signed by the CA
#   other-ca.pem, mallory.pem / mallory.key   a client certificate from another CA
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
ossl() { openssl "$@" 2>/dev/null; }
ca() { # name subject
    ossl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 -subj "$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject ca ext
    ossl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
    printf '%s\n' "$4" > "$1.ext"
    ossl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" \
        -days 2 -extfile "$1.ext"
}
ca ca "/CN=Eddy Test CA"
ca other-ca "/CN=Other CA"
leaf broker "/CN=localhost" ca "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf alice "/O=Eddy Test/OU=eng/CN=alice" ca "extendedKeyUsage=clientAuth"
leaf mallory "/CN=mallory" other-ca "extendedKeyUsage=clientAuth"
cp broker.pem broker-cert.pem
cp broker.key broker-key.pem
cat broker.key broker-cert.pem ca.pem > broker.pem
chmod 600 ./*.key broker.pem broker-key.pem
