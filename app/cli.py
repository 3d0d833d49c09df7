"""`vidprov app`: start the web app on the loopback interface."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

MAIN = Path(__file__).with_name("main.py")
DEFAULT_PORT = 8501


def streamlit_command(port: int, host: str, max_upload_mb: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--server.maxUploadSize", str(max_upload_mb),
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]


def default_port() -> int:
    try:
        return int(os.environ.get("STREAMLIT_SERVER_PORT", DEFAULT_PORT))
    except ValueError:
        return DEFAULT_PORT


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("app")
    def run_app(
        port: Annotated[int | None, typer.Option("--port", help="Port (default: $STREAMLIT_SERVER_PORT or 8501).")] = None,
        host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
        max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1, help="Largest upload accepted, in MB.")] = 200,
    ) -> None:
        """The web app: check a clip, generate one, see how the model works, browse benchmark runs."""
        port = port if port is not None else default_port()
        if not 0 < port < 65536:
            raise typer.BadParameter(f"port must be 1-65535, got {port}")
        env = {**os.environ, "VIDPROV_APP_MAX_UPLOAD_MB": str(max_upload_mb)}
        env.pop("STREAMLIT_SERVER_PORT", None)  # the resolved --port wins over the environment
        typer.echo(f"vidprov app on http://{host}:{port}")
        try:
            rc = subprocess.call(streamlit_command(port, host, max_upload_mb), env=env)
        except KeyboardInterrupt:
            rc = 0
        raise typer.Exit(rc)
