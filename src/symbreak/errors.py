"""Exceptions raised by symbreak.

Every error a user can cause is a :class:`SymbreakError`; the command line prints
its message on one line and exits with status 2 (``--debug`` shows the traceback).
Messages name what was wrong, the offending value, and what to do about it.
"""

from __future__ import annotations


class SymbreakError(Exception):
    """Base class of all errors symbreak raises for bad input or settings."""


class DataError(SymbreakError, ValueError):
    """The data has the wrong shape, dtype or content for the requested operation."""


class FormatError(SymbreakError, ValueError):
    """A file cannot be read: unknown format, corrupt, truncated or inconsistent."""


class CalibrationError(SymbreakError, ValueError):
    """Calibration values are missing, non-physical or inconsistent."""


class SettingsError(SymbreakError, ValueError):
    """A parameter or option has an invalid value."""


class OutputExistsError(SymbreakError, FileExistsError):
    """An output path exists and overwriting was not requested."""


class OutputLockedError(SymbreakError):
    """Another symbreak process is writing the same output right now."""


class InputWarning(UserWarning):
    """The data hold values that the input policy replaced or that need attention."""
