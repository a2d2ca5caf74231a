"""A Prefect-like installation on kubesim, driven with the real kubectl and helm.

Shared by the end-to-end tests and `make demo`: one KubeSim with the fixture images registered and the
virtualenv + a data folder bound into the containers; one `App` per namespace with its own databases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubesim import KubeSim
from testbed import app as fixture

RELEASE = "customer-managed"
PLUGIN = str(Path(sys.executable).parent / "kubectl-prefect_rollback")


@dataclass
class Cluster:
    sim: KubeSim
    paths: fixture.Paths
    data_root: Path  # bound at /data in every container
    work: Path

    @classmethod
    def start(cls, work: Path, *, tls: bool = True, pg_url: str | None = None) -> Cluster:
        paths = fixture.build()
        data_root = work / "data"
        data_root.mkdir(parents=True, exist_ok=True)
        sim = KubeSim(
            tls=tls, binds=fixture.sandbox_binds(data_dir=data_root), state_dir=str(work / "kubesim")
        )
        sim.start()
        sim.register_images(str(paths.images_dir))
        return cls(sim, paths, data_root, work)

    def stop(self) -> None:
        self.sim.stop()

    def app(self, namespace: str, *, kubectl: str, helm: str, pg_url: str | None = None) -> App:
        self.sim.create_namespace(namespace)
        home = self.work / "homes" / namespace
        bindir = home / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        for name, path in (("kubectl", kubectl), ("helm", helm)):
            link = bindir / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(path)
        (self.data_root / namespace).mkdir(exist_ok=True)
        kubeconfig = self.sim.write_kubeconfig(str(home / "kubeconfig"), namespace=namespace)
        env = {
            "PATH": f"{bindir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
            "HOME": str(home),
            "KUBECONFIG": kubeconfig,
            "HELM_DATA_HOME": str(home / "helm-data"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            # rollbacks here revert migrations that drop data; tests of backups unset it
            "PREFECT_ROLLBACK_BACKUPS_CONFIRMED": "1",
        }
        # pytest-xdist workers share the PostgreSQL server: their databases must not meet
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        prefix = f"pr_{worker}{'_' if worker else ''}{namespace.replace('-', '_')}_"
        if pg_url:
            urls = fixture.create_pg_databases(pg_url, prefix)
        else:
            urls = fixture.db_urls(data_dir=self.data_root / namespace)
        return App(self, namespace, env, home, urls, pg_url, prefix)


@dataclass
class App:
    cluster: Cluster
    namespace: str
    env: dict[str, str]
    home: Path
    host_urls: dict[str, str]  # the databases as the host sees them
    pg_url: str | None
    pg_prefix: str
    values_files: dict[str, Path] = field(default_factory=dict)

    # -- processes ----------------------------------------------------------------------------------
    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout: float = 300,
        stdin: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            argv,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode:
            raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def helm(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, "--namespace", self.namespace, **kw)

    def kubectl(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, "--namespace", self.namespace, **kw)

    def plugin(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:
        return self.run(PLUGIN, *args, "--namespace", self.namespace, **kw)

    # -- the installation ---------------------------------------------------------------------------
    def values_file(self, version: str, **extra: object) -> Path:
        data_dir = None if self.pg_url else f"/data/{self.namespace}"
        values = fixture.values_for(
            version, data_dir=data_dir, pg_url=self.pg_url, prefix=self.pg_prefix, **extra
        )
        path = self.home / f"values-{version}.yaml"
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        self.values_files[version] = path
        return path

    def chart(self, version: str) -> str:
        return str(self.cluster.paths.chart(version))

    def install(self, version: str, **extra: object) -> None:
        """What an operator did before: helm upgrade --install with that release's values."""
        self.helm(
            "upgrade",
            "--install",
            RELEASE,
            self.chart(version),
            "-f",
            str(self.values_file(version, **extra)),
            "--wait",
            "--timeout",
            "180s",
            timeout=400,
        )

    def heads(self) -> dict[str, str | None]:
        return {db: fixture.db_heads(url) for db, url in self.host_urls.items()}

    def tables(self, db: str) -> set[str]:
        return fixture.tables(self.host_urls[db])

    def release(self) -> dict:
        rows = json.loads(self.helm("list", "--deployed", "--failed", "--pending", "-o", "json").stdout)
        return next(r for r in rows if r["name"] == RELEASE)

    def resource_versions(self) -> dict[str, str]:
        out = {}
        for kind in ("Pod", "Job", "Deployment", "ReplicaSet", "ConfigMap", "Secret", "Lease", "Service"):
            for obj in self.cluster.sim.list(kind, self.namespace):
                out[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"].get("resourceVersion")
        return out

    def drop(self) -> None:
        if self.pg_url:
            fixture.drop_pg_databases(self.pg_url, self.pg_prefix)


def tool_pairs() -> list[tuple[str, str]]:
    return [("1.32", "4.1.4"), ("1.31.9", "3.17.3")]


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="prefect-rollback-e2e-"))
