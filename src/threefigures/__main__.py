"""``python -m threefigures`` (also what ``torchrun -m threefigures`` runs)."""

from threefigures.cli import run

if __name__ == "__main__":
    run()
