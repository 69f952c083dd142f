"""Stored runs: the SQLite store (store.py), safetensors checkpoints (checkpoint.py), the
run folder's files (folder.py) and a run's life cycle (lifecycle.py)."""

from __future__ import annotations

from threefigures.runs.store import RunRecord, Store

__all__ = ["RunRecord", "Store"]
