"""One exception type for bad user input, so the CLI can print it without a traceback."""


class InputError(ValueError):
    """A user-supplied file or setting is unusable.

    The message names the file (or flag) and the problem, e.g.
    ``"embeddings.npy: rows 3, 17 contain NaN or inf"``. The CLI prints it as
    ``error: <message>`` and exits with status 2.
    """
