"""The ``spikestream`` command line: ``main``, and the one place that maps errors to exit codes.

``spikestream`` with no arguments runs the main job: classify spoken digits from the default
microphone, or — when there is none — replay the shipped recording through the same pipeline,
paced in real time. See ``spikestream --help`` and ``spikestream COMMAND --help``.

Parsing (:mod:`.cli_parser`) imports nothing heavy (``spikestream --help`` never loads torch); the handlers in
:mod:`.commands` are imported after it. Exit codes: 0 done, 2 bad input (a message names the file
or value and what was expected), 3 the output is incomplete (a sink failed or dropped detections),
130 interrupted (Ctrl-C or SIGTERM; sinks are flushed first).
"""

from __future__ import annotations

import signal
import sys

from .cli_parser import build_parser
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, unusable_path_message
from .preflight import check_before_loading


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, and map every domain error to exit code 2 with its message."""
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM → KeyboardInterrupt → sinks flushed, exit 130
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("spikestream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        check_before_loading(args)  # model names and a replay's file, before seconds of imports
    except ValueError as error:  # CheckpointError, UsageError: the messages the handlers would give
        print(f"spikestream: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    domain_errors: tuple[type[Exception], ...] = ()
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    try:
        # torch's native start-up aborts the process if Ctrl-C lands inside it: hold the signals
        # while the heavy modules load, then take any that came as an ordinary interrupt
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            from . import commands, model_commands  # heavy imports (torch, librosa) only after argument parsing
            from .errors import domain_error_types

            domain_errors = domain_error_types()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        commands.use_one_thread()
        if args.command is None:
            return commands.main_job()
        handler = f"command_{args.command.replace('-', '_')}"
        return (getattr(commands, handler, None) or getattr(model_commands, handler))(args)
    except KeyboardInterrupt:
        print("spikestream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        message = str(error) if isinstance(error, domain_errors) else unusable_path_message(error)
        if message is None:
            raise
        print(f"spikestream: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # `python -m spikestream.pipeline.cli`: run the package's module, so that
    try:  # its errors are the ones commands raise
        from spikestream.pipeline.cli import main as package_main

        exit_status = package_main()
    except KeyboardInterrupt:  # Ctrl-C before main() took over
        print("spikestream: interrupted", file=sys.stderr)
        exit_status = EXIT_INTERRUPTED
    sys.exit(exit_status)
