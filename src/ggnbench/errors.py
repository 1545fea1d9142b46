"""The one exception type that the command line turns into a one-line error."""


class GGNBenchError(Exception):
    """A user-facing error: the message names the problem and the fix.

    The command line prints ``error: <message>`` on one line and exits non-zero.
    """


class StepFailure(GGNBenchError):
    """An optimizer step that could not be computed (an eigendecomposition that failed).

    The training loop ends the run there and records it as ``failed`` with this message,
    so that a sweep carries on with its other runs.
    """
