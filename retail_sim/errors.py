"""User-facing errors: one line that names the file, column or value, and what to do."""


class UserError(Exception):
    """An error the user can act on. The CLI prints `error: <message>` and exits 2, no traceback."""
