"""``python -m threefigures.cli``: the same as ``python -m threefigures``."""

from threefigures.cli import run

if __name__ == "__main__":
    run()
