"""``python -m threefigures`` (also what ``torchrun -m threefigures`` runs)."""

import sys

from threefigures.cli import main

sys.exit(main())
