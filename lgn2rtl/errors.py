"""The one error family the CLI reports as a single line (exit code 2) instead of a traceback."""


class UserError(Exception):
    """Bad input or a missing tool: something the user can fix, with a message that says how."""


def clip(text: str, limit: int = 200) -> str:
    """Foreign text (a file's content, a tool's output) fit for a one-line message: whitespace
    collapsed, other control characters dropped (a terminal acts on escape sequences), cut to
    ``limit`` characters."""
    text = " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def quote(e: BaseException, limit: int = 200) -> str:
    """A foreign exception (numpy, zipfile, json) for a one-line message: its type and text, clipped."""
    return clip(f"{type(e).__name__}: {e}", limit)
