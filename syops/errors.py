"""User-facing errors: each one is a single line that says what was wrong and what is expected."""


class SyopsError(Exception):
    """Bad input to syops (argument, shape, checkpoint, data). The CLI prints it as one line."""


class CountingError(SyopsError):
    """A counting rule could not handle a call; raised instead of returning a wrong number."""
