"""A throwaway CA and server certificate (made with the openssl CLI), and the kubeconfig pointing at kubesim.

kubectl and helm verify the server against `certificate-authority-data`, so the server certificate is
signed by a separate CA and names 127.0.0.1 and localhost. Certificates are made once per process
and reused by every KubeSim started in it: openssl costs ~100 ms, which matters for fast startup.
"""

from __future__ import annotations

import base64
import functools
import ssl
import subprocess
import tempfile
from pathlib import Path

import yaml


def _openssl(*args: str) -> None:
    subprocess.run(("openssl", *args), check=True, capture_output=True)


@functools.lru_cache(maxsize=1)
def certificates() -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) in a directory that lives as long as the process."""
    d = Path(tempfile.mkdtemp(prefix="kubesim-tls-"))
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        str(d / "ca.key"),
        "-out",
        str(d / "ca.crt"),
        "-days",
        "30",
        "-subj",
        "/CN=kubesim-ca",
    )
    _openssl(
        "req",
        "-new",
        *ec,
        "-keyout",
        str(d / "server.key"),
        "-out",
        str(d / "server.csr"),
        "-subj",
        "/CN=kubesim",
    )
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(d / "server.csr"),
        "-CA",
        str(d / "ca.crt"),
        "-CAkey",
        str(d / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(d / "server.crt"),
        "-days",
        "30",
        "-extfile",
        str(d / "ext.cnf"),
    )
    return d / "ca.crt", d / "server.crt", d / "server.key"


def server_context() -> ssl.SSLContext:
    _, cert, key = certificates()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def kubeconfig(url: str, token: str, namespace: str, tls: bool) -> dict:
    cluster: dict = {"server": url}
    if tls:
        ca = certificates()[0]
        cluster["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": "kubesim",
        "clusters": [{"name": "kubesim", "cluster": cluster}],
        "users": [{"name": "kubesim", "user": {"token": token}}],
        "contexts": [
            {"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim", "namespace": namespace}}
        ],
    }


def write_kubeconfig(path: Path, url: str, token: str, namespace: str, tls: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(url, token, namespace, tls), sort_keys=False))
    path.chmod(0o600)  # helm warns about group/world-readable kubeconfigs
    return path
