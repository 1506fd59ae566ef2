# SPDX-License-Identifier: GPL-2.0-or-later
"""Test PKI for the fake PIA service (fake-pia), generated at run time: no key is ever committed.

    make_pia_pki(directory, server_name="lab-pia-server", api_name="lab-pia-api",
                 api_addresses=("127.0.0.1",)) -> PiaPki

writes, in directory (created, mode 0700; keys 0600):

  ca.crt                 the test CA ("portmap lab PIA test CA"): portmapd's CAFile= and
                         TokenCAFile= in the lab, as PIA's ca.rsa.4096.crt is in real life
  gateway.crt/.key       the gateway's certificate, signed by ca: subject CN and SAN name ONLY
                         server_name (DNS), no IP: a client must verify it against the server
                         name (Hostname=), not the address it connected to, as with PIA
  token.crt/.key         the token API's certificate, signed by ca: CN api_name, SAN DNS
                         api_name + IP for each of api_addresses (libsoup verifies a URL whose
                         host is an IP against the IP)
  other-ca.crt           a second, unrelated CA ("portmap lab unrelated CA")
  other-gateway.crt/.key a certificate for the same server_name signed by other-ca: the
                         "wrong CA" case (a client trusting ca.crt must refuse it)

RSA 2048, SHA-256, valid from an hour ago for 30 days; leaf certificates carry
basicConstraints CA:FALSE, keyUsage digitalSignature+keyEncipherment, extendedKeyUsage
serverAuth, subject/authority key identifiers (what GnuTLS and OpenSSL expect of a server).

    make_server_pki(directory, cn, ips=(), dns=()) -> ServerPki

writes ca.crt/ca.key (a CA of its own, "portmap lab CN test CA") and server.crt/server.key
(CN cn, SAN the DNS names and IP addresses given) in directory; ServerPki.fingerprint is the
SHA-256 of the server certificate's DER, hex pairs joined by colons (as RouterOS and OpenSSL
print it).  The fake RouterOS's API-SSL certificate is made this way.

Needs python3-cryptography (Debian 12: 38); the fake itself uses only the standard library.
`python3 piapki.py DIR [SERVER_NAME [API_NAME [API_ADDRESS...]]]` makes the files for a human.
"""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "lab-pia-server"
API_NAME = "lab-pia-api"


class PiaPki:
    """Paths of the files make_pia_pki wrote (attributes named as the files)."""

    def __init__(self, directory, server_name, api_name, api_addresses):
        self.dir = directory
        self.server_name = server_name
        self.api_name = api_name
        self.api_addresses = list(api_addresses)
        j = lambda name: os.path.join(directory, name)  # noqa: E731
        self.ca = j("ca.crt")
        self.ca_key = j("ca.key")
        self.gateway_cert, self.gateway_key = j("gateway.crt"), j("gateway.key")
        self.token_cert, self.token_key = j("token.crt"), j("token.key")
        self.other_ca = j("other-ca.crt")
        self.other_ca_key = j("other-ca.key")
        self.other_gateway_cert = j("other-gateway.crt")
        self.other_gateway_key = j("other-gateway.key")

    def __repr__(self):
        return f"<PiaPki {self.dir} server={self.server_name} api={self.api_name}>"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "portmap test lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(builder):
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)) \
                  .not_valid_after(now + datetime.timedelta(days=30))


def _ca(cn):
    key = _key()
    name = _name(cn)
    b = x509.CertificateBuilder().subject_name(name).issuer_name(name) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
    b = _validity(b)
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=True, crl_sign=True,
                                      encipher_only=False, decipher_only=False), critical=True)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
    return key, b.sign(key, hashes.SHA256())


def _leaf(ca_key, ca_cert, cn, dns=(), ips=()):
    key = _key()
    sans = [x509.DNSName(d) for d in dns] + \
        [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    b = x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
    b = _validity(b)
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=True, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
    b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def _write(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _write_cert(path, cert):
    _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_key(path, key):
    _write(path, key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()), 0o600)


def make_pia_pki(directory, server_name=SERVER_NAME, api_name=API_NAME,
                 api_addresses=("127.0.0.1",)):
    """Generate the test CA, the gateway's and token API's certificates and the unrelated CA
    with its certificate for server_name in directory; returns a PiaPki with the paths."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    pki = PiaPki(directory, server_name, api_name, api_addresses)

    ca_key, ca = _ca("portmap lab PIA test CA")
    _write_cert(pki.ca, ca)
    _write_key(pki.ca_key, ca_key)
    key, cert = _leaf(ca_key, ca, server_name, dns=[server_name])
    _write_cert(pki.gateway_cert, cert)
    _write_key(pki.gateway_key, key)
    key, cert = _leaf(ca_key, ca, api_name, dns=[api_name], ips=api_addresses)
    _write_cert(pki.token_cert, cert)
    _write_key(pki.token_key, key)

    other_key, other = _ca("portmap lab unrelated CA")
    _write_cert(pki.other_ca, other)
    _write_key(pki.other_ca_key, other_key)
    key, cert = _leaf(other_key, other, server_name, dns=[server_name])
    _write_cert(pki.other_gateway_cert, cert)
    _write_key(pki.other_gateway_key, key)
    return pki


class ServerPki:
    """Paths of what make_server_pki wrote, and the server certificate's fingerprint."""

    def __init__(self, directory, cn, ips, dns):
        self.dir, self.cn, self.ips, self.dns = directory, cn, list(ips), list(dns)
        self.ca = os.path.join(directory, "ca.crt")
        self.ca_key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "server.crt")
        self.key = os.path.join(directory, "server.key")
        self.fingerprint = None

    def __repr__(self):
        return f"<ServerPki {self.dir} cn={self.cn} ips={self.ips}>"


def make_server_pki(directory, cn, ips=(), dns=()):
    """A test CA and one server certificate signed by it, for cn with IP and DNS SANs."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    pki = ServerPki(directory, cn, ips, dns)
    ca_key, ca = _ca(f"portmap lab {cn} test CA")
    _write_cert(pki.ca, ca)
    _write_key(pki.ca_key, ca_key)
    key, cert = _leaf(ca_key, ca, cn, dns=dns, ips=ips)
    _write_cert(pki.cert, cert)
    _write_key(pki.key, key)
    pki.fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return pki


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print(__doc__)
        sys.exit(2)
    args = sys.argv[1:]
    p = make_pia_pki(args[0], *(args[1:3]), **({"api_addresses": args[3:]} if args[3:] else {}))
    print(p.dir)
