"""The error a user can fix: bad input, a missing file, a setting that cannot be honoured.

The CLI prints such an error as one line on stderr and exits with status 2; any other exception
is an internal failure (status 1, the traceback with ``--debug``). Subclasses keep the built-in
class their callers already catch (``DataError`` is a ``ValueError``, ...).
"""

from __future__ import annotations


class UserError(Exception):
    """An error in what the user gave (a file, a value, a setting); its message names it."""
