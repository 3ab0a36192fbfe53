"""The one error type users see.

Every user-facing failure (bad config field, missing file, non-converged SCF, ...) raises
:class:`SeilabError` with a single-line message that names the field or file. The CLI prints
``error: <message>`` and exits with status 2 instead of a traceback.
"""


class SeilabError(Exception):
    """A user-facing error whose message is one line naming the offending field or file."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
