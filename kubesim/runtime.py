"""Images and bubblewrap sandboxes: how a container becomes a real process.

An image is a directory; each of its top-level entries is bound read-only at `/<entry>`. The host's
/usr (with the usual /bin, /lib... symlinks) and /etc are shared read-only, so containers can run host
tools such as /bin/sh. The network is shared: a container's server listens on the host's 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# sandbox paths the base layout owns; an image entry with one of these names is not bound
RESERVED = {"usr", "etc", "proc", "dev", "tmp", "bin", "lib", "lib64", "sbin", ".kubesim"}


@dataclass
class Image:
    ref: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = "/"
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    base: str = "host"  # "libs": the image brings its own /bin (or none); only host libraries are shared

    @classmethod
    def load(cls, ref: str | None, root: str | os.PathLike) -> Image:
        root = Path(root).resolve()
        meta_file = root / ".kubesim" / "image.json"
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        ref = ref or meta.get("ref")
        if not ref:
            raise ValueError(f"{root}: no image reference given and no .kubesim/image.json 'ref'")
        return cls(
            ref=ref,
            root=root,
            env=dict(meta.get("env") or {}),
            working_dir=meta.get("workingDir") or "/",
            entrypoint=meta.get("entrypoint"),
            cmd=meta.get("cmd"),
            base=meta.get("base") or "host",
        )


class Images:
    def __init__(self) -> None:
        self._by_ref: dict[str, Image] = {}

    def register(self, ref: str | None, directory: str | os.PathLike) -> Image:
        image = Image.load(ref, directory)
        self._by_ref[image.ref] = image
        return image

    def register_all(self, parent: str | os.PathLike) -> list[Image]:
        """Register every `parent/<name>` that carries a `.kubesim/image.json`."""
        found = sorted(p for p in Path(parent).iterdir() if (p / ".kubesim" / "image.json").is_file())
        return [self.register(None, p) for p in found]

    def get(self, ref: str) -> Image | None:
        # "busybox" and "docker.io/library/busybox:latest" name the same image
        candidates = [ref, ref.removeprefix("docker.io/").removeprefix("library/")]
        if ":" not in ref.rsplit("/", 1)[-1]:
            candidates += [f"{c}:latest" for c in candidates]
        return next((self._by_ref[c] for c in candidates if c in self._by_ref), None)


@dataclass(frozen=True)
class Bind:
    host: str
    sandbox: str
    read_only: bool = True

    @classmethod
    def parse(cls, spec: str | tuple | Bind) -> Bind:
        """`HOST[:SANDBOX[:ro]]` or a `(host, sandbox, read_only)` tuple."""
        if isinstance(spec, Bind):
            return spec
        if isinstance(spec, tuple | list):
            return cls(
                str(spec[0]),
                str(spec[1] if len(spec) > 1 else spec[0]),
                bool(spec[2]) if len(spec) > 2 else True,
            )
        parts = spec.split(":")
        host = str(Path(parts[0]).resolve())
        return cls(
            host, parts[1] if len(parts) > 1 and parts[1] else host, len(parts) > 2 and parts[2] == "ro"
        )


def sandbox_argv(
    image: Image, tmp_dir: Path, binds: list[Bind], env: dict[str, str], workdir: str | None, argv: list[str]
) -> list[str]:
    """The bwrap command line running `argv` in a fresh sandbox for one container."""
    libs = image.base == "libs"  # a minimal image (no awk, busybox only, distroless): no host /usr/bin
    out = [shutil.which("bwrap") or "bwrap"]
    out += ["--ro-bind", "/usr/lib", "/usr/lib"] if libs else ["--ro-bind", "/usr", "/usr"]
    if libs and os.path.isdir("/usr/lib64"):
        out += ["--ro-bind", "/usr/lib64", "/usr/lib64"]
    for name in ("lib", "lib64") if libs else ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}"):
            out += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            out += ["--ro-bind", f"/{name}", f"/{name}"]
    out += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--bind", str(tmp_dir), "/tmp"]
    for entry in sorted(image.root.iterdir()):
        if entry.name not in RESERVED or (libs and entry.name in ("bin", "sbin")):
            out += ["--ro-bind", str(entry), f"/{entry.name}"]
    for b in binds:
        out += ["--ro-bind" if b.read_only else "--bind", b.host, b.sandbox]
    # --unshare-pid + --die-with-parent: if bwrap dies, everything inside the sandbox dies with it
    out += [
        "--unshare-pid",
        "--die-with-parent",
        "--chdir",
        workdir or image.working_dir or "/",
        "--clearenv",
    ]
    for key, value in env.items():
        out += ["--setenv", key, value]
    return [*out, "--", *argv]


def container_argv(image: Image, container: dict) -> list[str]:
    """Kubernetes rules: `command` replaces the entrypoint, `args` replace the image's cmd."""
    command = container.get("command") or image.entrypoint or []
    args = container.get("args")
    if args is None and not container.get("command"):
        args = image.cmd or []
    return [*command, *(args or [])]


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a container's whole process group (it was started in a session of its own)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
