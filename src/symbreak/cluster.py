"""Old home of the dask.distributed helpers, kept for code written against it
(``symbreak.cluster.use_cluster``): they now live in :mod:`symbreak.engine.cluster`."""

from __future__ import annotations

from .engine.cluster import active_client, use_cluster

__all__ = ["active_client", "use_cluster"]
