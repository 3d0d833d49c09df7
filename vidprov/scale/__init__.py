"""Scale-out on Ray (Ray Data): scan and generate over large collections, resumable and fault-tolerant.

Needs the optional extra: pip install "vidprov[distributed]". Importing this package does not import Ray.
"""

from vidprov.scale.cluster import INSTALL_HINT, RayNotInstalledError, connect, require_ray
from vidprov.scale.results import SCHEMA
from vidprov.scale.scan import read_results, scan_dataset

__all__ = ["scan_dataset", "read_results", "connect", "require_ray", "RayNotInstalledError", "INSTALL_HINT", "SCHEMA"]
