"""``python -m threefigures`` (also what ``torchrun -m threefigures`` runs)."""

from threefigures.cli import run

run()
