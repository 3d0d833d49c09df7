"""Connect to Ray: a local one started here, or an existing cluster (RAY_ADDRESS / --address)."""

from __future__ import annotations

import logging
import os

from vidprov.errors import VidprovError

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "vidprov[distributed]"'


class RayNotInstalledError(VidprovError):
    """--ray or vidprov.scale was used where Ray is not installed."""


def require_ray():
    """The ray module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray without its data extra cannot run these pipelines)
    except ImportError as exc:
        raise RayNotInstalledError(f"Ray is not installed ({exc.name} missing); install it with: {INSTALL_HINT}") from exc
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None):
    """Attach to Ray once per process and return the ray module.

    address: 'auto', 'ray://HOST:PORT' or a GCS address of an existing cluster; None uses RAY_ADDRESS
    when set, else starts a local Ray on this machine (num_cpus: its CPU count, default all). A Ray
    already initialised in this process (a notebook, a test) is used as it is.
    """
    ray = require_ray()
    if not log.isEnabledFor(logging.INFO):  # Ray Data's logged progress lines only with -v, as vidprov's own
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Workers inherit the driver's vidprov settings (key folder, limits) explicitly: on a cluster they run elsewhere.
    env = {k: v for k, v in os.environ.items() if k.startswith("VIDPROV_")}
    runtime_env = {"env_vars": env} if env else None
    if address in (None, "local"):
        log.info("starting a local Ray (num_cpus=%s)", num_cpus)
        ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    else:
        log.info("connecting to the Ray cluster at %s", address)
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except ConnectionError as exc:
            raise VidprovError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    return ray
