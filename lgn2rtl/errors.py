"""The one error family the CLI reports as a single line (exit code 2) instead of a traceback."""


class UserError(Exception):
    """Bad input or a missing tool: something the user can fix, with a message that says how."""
