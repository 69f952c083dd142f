"""What every command module shares: the global options' state, the option types used by
several commands, printing, and parsing of comma lists.

Nothing here imports torch: ``threefigures --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

PROCESS_START = time.perf_counter()

#: Set by the top-level callback from ``threefigures [--debug] [--store PATH] COMMAND``.
STATE: dict[str, Any] = {"debug": False, "store": None}

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", help="SQLite runs store (default ./runs/threefigures.db or $THREEFIGURES_STORE)."
    ),
]
RunOpt = Annotated[
    str, typer.Option("--run", help="A run id, or `latest` (the latest finished run).")
]
MethodOpt = Annotated[
    str,
    typer.Option(
        "--method", help="Attribution: saliency | integrated-gradients | gradcam | occlusion"
    ),
]


def open_store(path: Path | None) -> Any:
    from threefigures.runs.store import Store

    return Store(path or STATE["store"])


def say(msg: str, err: bool = False) -> None:
    """Print one message. File names that are not valid UTF-8 reach Python as surrogate
    escapes, which no terminal encoding accepts: show them as U+FFFD instead of failing."""
    text = str(msg).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    typer.echo(text, err=err)


def echo(msg: str) -> None:
    say(msg)


def joined(values: tuple[Any, ...], sep: str = ",") -> str:
    """A tuple default as the option text that means it: ``(16, 32)`` → ``"16,32"``."""
    return sep.join(str(v) for v in values)


def parse_ints(text: str, flag: str) -> tuple[int, ...]:
    from threefigures.errors import ConfigError

    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} needs at least one value")
    return values
