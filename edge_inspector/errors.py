"""What "the user gave bad input" means: the CLI prints such an error as one line and exits 2.

Each wing's user-facing exception subclasses UserError (ConfigError, SourceError, BackendError, ...), so this
module, on the lowest floor, imports nothing of the package: the CLI catches the base class.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a config key, a file, a model, a device): one line naming what is wrong.

    Subclasses keep their other base (ValueError, RuntimeError, OSError) so existing handlers still match.
    """


# What the CLI prints as one line with exit code 2: every UserError, and a file that is not there.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError)
