"""User-facing errors: one clear line, no traceback needed to understand them."""

from __future__ import annotations


class ThreeFiguresError(Exception):
    """An error caused by the user's input or environment, explained in one line.

    The CLI prints ``error: <message>`` and exits non-zero without a traceback
    (unless ``--debug``); the library raises it wherever input is bad.
    """


class ImageError(ThreeFiguresError):
    """A file could not be turned into the 28×28 image the network sees."""


class NoInkError(ImageError):
    """The image is one flat tone: there is no digit to classify."""


class DataError(ThreeFiguresError):
    """A dataset could not be found or read."""


class ConfigError(ThreeFiguresError):
    """A configuration value is missing, of the wrong type or out of range."""


class CheckpointError(ThreeFiguresError):
    """A checkpoint is missing, truncated, unsafe or does not match its config."""


class RunNotFoundError(ThreeFiguresError):
    """No stored run has the given id."""
