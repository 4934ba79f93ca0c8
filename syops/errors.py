"""User-facing errors: each one is a single line that says what was wrong and what is expected."""


class SyopsError(Exception):
    """Bad input to syops (argument, shape, checkpoint, data). The CLI prints it as one line."""


class CountingError(SyopsError):
    """A counting rule could not handle a call; raised instead of returning a wrong number."""


class UnbatchedInputError(SyopsError):
    """A layer saw an input without a batch dimension (a 1-D input to a Linear, (C, H, W) to a Conv2d):
    the samples the model input holds cannot be read off its leading dimension."""
