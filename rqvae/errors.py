"""The workbench's error family: bad input, and diagnostics a legal input cannot have.

Everything the workbench raises on purpose is a :class:`WorkbenchError`. The CLI prints it as
one line ``error: <message>`` and exits with status 2; the dashboard shows it as a card. Any
other exception is a bug in the workbench, and keeps its traceback.
"""

import reprlib


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


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 80, 80
QUOTE_LIMIT = 200  # characters of a file's content quoted in one message
_BIDI_CONTROLS = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def printable(text: object, limit: int = QUOTE_LIMIT) -> str:
    """``text`` made safe to print on a terminal or in a one-line message.

    Every message that quotes a file's content (a key, a class name, a config value) passes it
    through here. Anything but a string is shown by a bounded ``reprlib`` repr (a few items of
    a few levels: a shared structure of 2^40 nodes costs no more than a small one). Control
    characters (C0, DEL, C1: the ESC of CSI / OSC sequences that retitle
    or clear a terminal, newlines that would break the one-line contract), bidirectional
    overrides and lone surrogates (undecodable file names) are shown as ``\\xNN`` /
    ``\\uNNNN`` escapes, and the result is cut to ``limit`` characters, ending in
    ``... (N characters)`` when cut.
    """
    text = text if isinstance(text, str) else _BRIEF.repr(text)
    # Cut before escaping too, so a 1 GB string costs no more than a short one.
    cut = text[: limit + 1]
    escaped = "".join(_escape(character) for character in cut)
    if len(text) <= limit and len(escaped) <= limit:
        return escaped
    return f"{escaped[:limit]}... ({len(text):,} characters)"


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if code in _BIDI_CONTROLS or 0xD800 <= code < 0xE000:
        return f"\\u{code:04x}"
    return character
