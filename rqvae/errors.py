"""The workbench's error family: bad input, and diagnostics a legal input cannot have.

Everything the workbench raises on purpose is a :class:`WorkbenchError`. The CLI prints it as
one line ``error: <message>`` and exits with status 2; the dashboard shows it as a card. Any
other exception is a bug in the workbench, and keeps its traceback.
"""


class WorkbenchError(Exception):
    """Base of the errors the CLI and the dashboard show as a one-line message."""


class InputError(WorkbenchError, ValueError):
    """A user-supplied file or setting is unusable.

    The message names the file (or flag) and the problem, e.g.
    ``"embeddings.npy: rows 3, 17 contain NaN or inf"``.
    """


class DiagnosticUnavailable(WorkbenchError):
    """A diagnostic cannot be computed for this (legal) input; ``reason`` says why, in one line.

    Not a mistake in the user's data: an imported ID table has no codewords, a catalog may have
    no categories, a run of one item has no neighbours. Report assembly catches it and shows
    the reason in place of the diagnostic.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TrainingDiverged(WorkbenchError):
    """Training produced a non-finite loss or weight; the message names the step and epoch.

    The run's ``status.json`` says "failed" with this message; nothing of the diverged epoch
    is written to ``metrics.jsonl`` or a checkpoint.
    """
