"""The one exception type that the command line turns into a one-line error."""


class GGNBenchError(Exception):
    """A user-facing error: the message names the problem and the fix.

    The command line prints ``error: <message>`` on one line and exits non-zero.
    """
