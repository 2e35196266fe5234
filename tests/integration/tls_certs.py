"""Test certificates made at test time with the openssl command line (nothing private is committed).

make_certs(dir) writes, all valid for two days:
  ca.pem / ca.key            the test CA
  server.pem / server.key    CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by the CA
  client.pem / client.key    CN=client, signed by the CA (client authentication)
  rogue-ca.pem, rogue.pem / rogue.key   a client certificate from another CA
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certs:
    dir: Path

    def __getattr__(self, name: str) -> str:  # certs.server_pem -> "<dir>/server.pem"
        stem, _, ext = name.rpartition("_")
        if ext not in ("pem", "key"):
            raise AttributeError(name)
        return str(self.dir / f"{stem.replace('_', '-')}.{ext}")


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(name: str, cn: str, d: Path) -> None:
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
         "-days", "2", "-subj", f"/CN={cn}", cwd=d)


def _leaf(name: str, cn: str, ca: str, d: Path, ext: str | None = None) -> None:
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
         "-subj", f"/CN={cn}", cwd=d)
    args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2"]
    if ext:
        (d / f"{name}.ext").write_text(ext)
        args += ["-extfile", f"{name}.ext"]
    _run(*args, cwd=d)


def make_certs(d: Path) -> Certs:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl not found (scripts/setup.sh installs it)")
    d.mkdir(parents=True, exist_ok=True)
    _ca("ca", "jetbroker test CA", d)
    _leaf("server", "localhost", "ca", d, "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _leaf("client", "client", "ca", d, "extendedKeyUsage=clientAuth\n")
    _ca("rogue-ca", "rogue CA", d)
    _leaf("rogue", "rogue", "rogue-ca", d, "extendedKeyUsage=clientAuth\n")
    return Certs(d)
