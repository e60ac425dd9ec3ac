"""For tests that send signals to the processes they start."""
import signal


def default_signals():
    """``preexec_fn`` for such a child: SIGINT, SIGTERM and SIGHUP at their default disposition.

    A suite started as a background job of a non-interactive shell has SIGINT ignored, and a
    child inherits that: Python then keeps it ignored (no KeyboardInterrupt), so a test of
    Ctrl-C would see the process carry on. The test decides what the child starts with.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
