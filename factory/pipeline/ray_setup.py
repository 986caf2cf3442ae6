"""Ray set-up, in one place: every `--executor ray` stage gets Ray from `start_ray()`.

It joins the cluster RAY_ADDRESS names (`ray start --head` on one node, `ray start
--address=HEAD:6379` on the others, then RAY_ADDRESS=HEAD:6379 on the driver), or starts a
local one, without the dashboard and with worker logs kept off the driver's terminal (stages
print their own progress). A missing Ray says how to install it.

Exercise: `factory verify TRACES -o OUT --executor ray`.
"""

from __future__ import annotations

from typing import Any

from factory.schemas.errors import MissingDependencyError


def start_ray() -> Any:
    """The `ray` module, initialised (an already running Ray is reused as it is)."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray", extra="ray", purpose="--executor ray") from None
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    import logging

    # stages report rows themselves; Ray Data's per-operator logs and bars would drown them
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray
