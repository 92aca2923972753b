"""The one error family the CLI reports as a single line (exit code 2) instead of a traceback."""


class UserError(Exception):
    """Bad input or a missing tool: something the user can fix, with a message that says how."""


def quote(e: BaseException, limit: int = 200) -> str:
    """A foreign exception (numpy, zipfile, json) as text for a one-line message: its type and
    text with whitespace collapsed, cut to ``limit`` characters (a header can be 10 kB)."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
