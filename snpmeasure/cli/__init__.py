"""The command line: arguments in, library calls, results out, errors to exit codes.

``options`` declares every option once; ``app`` builds the typer commands from it; ``main`` is
the entry point (with a typer-free fast path for ``measure``); the other modules hold the
command bodies, which print and write but leave all logic to the library.
"""
