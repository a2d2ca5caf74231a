"""`python -m kubesim serve`: run kubesim by hand or for a demo, until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading

import click

from .harness import KubeSim
from .runtime import Bind


@click.group()
def cli() -> None:
    """kubesim: a simulated Kubernetes control plane for the real kubectl and helm."""


@cli.command()
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0: a free one).")
@click.option("--tls/--no-tls", default=True, show_default=True, help="Serve HTTPS with a throwaway CA.")
@click.option(
    "--images",
    "images_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Register every DIR/<name> that has a .kubesim/image.json.",
)
@click.option(
    "--bind",
    "binds",
    multiple=True,
    metavar="HOST_PATH[:SANDBOX_PATH[:ro]]",
    help="Expose a host path to every container (repeatable).",
)
@click.option("--kubeconfig-out", type=click.Path(dir_okay=False), help="Where to write the kubeconfig.")
@click.option("--start-delay", type=float, default=0.0, help="Seconds before each pod starts.")
def serve(
    port: int,
    tls: bool,
    images_dir: str | None,
    binds: tuple[str, ...],
    kubeconfig_out: str | None,
    start_delay: float,
) -> None:
    """Serve until interrupted; stops every container process on exit."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sim = KubeSim(
        tls=tls,
        port=port,
        binds=[Bind.parse(b) for b in binds],
        start_delay=start_delay,
        kubeconfig_path=kubeconfig_out,
    )
    sim.start()
    try:
        for ref in sim.register_images(images_dir) if images_dir else []:
            click.echo(f"image {ref}", err=True)
        click.echo(f"kubeconfig: {sim.kubeconfig}")
        click.echo(f"url: {sim.url}")
        click.echo(f"export KUBECONFIG={sim.kubeconfig}", err=True)
        stop.wait()
    finally:
        sim.stop()


if __name__ == "__main__":
    cli()
