"""The `pymaster` command's edges: a reader that closes the pipe early, and the help texts.

Pipes are real: the child writes into an OS pipe whose reading end is already closed (every
write fails, deterministically), or into `head` through a shell.
"""
import argparse
import os
import subprocess
import sys

import pytest
import soundfile as sf
from signals import programme

from pymaster.cli import EXIT_PIPE_CLOSED, _closed_stream, build_parser


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "mix.wav"
    sf.write(path, programme(2.0, 48000, seed=1), 48000, subtype="PCM_24")
    return path


def run_into_closed_pipe(args, stderr_too=False, unbuffered=False):
    """Run `pymaster ARGS` with stdout (and maybe stderr) a pipe nobody reads any more."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, *(["-u"] if unbuffered else []), "-m", "pymaster", *map(str, args)],
            stdout=writer, stderr=writer if stderr_too else subprocess.PIPE, text=True,
            timeout=120)
    finally:
        os.close(writer)


@pytest.mark.parametrize("args", [["presets", "--json"], ["presets"], ["analyze", "WAV"],
                                  ["analyze", "WAV", "--json"], ["demo", "OUT"]])
@pytest.mark.parametrize("unbuffered", [False, True], ids=["at-exit-flush", "mid-output"])
def test_closed_stdout_ends_quietly(args, unbuffered, wav, tmp_path):
    """Buffered, the output reaches the pipe at the final flush; unbuffered (`python -u`), at
    the first print inside the command. Either way: no message, no traceback, and the status
    of a process ended by SIGPIPE (141), which the shell reports for `cat` or `yes` too:
    neither success (the output was cut short) nor an error (nothing went wrong)."""
    args = [{"WAV": wav, "OUT": tmp_path / "demo.wav"}.get(a, a) for a in args]
    result = run_into_closed_pipe(args, unbuffered=unbuffered)
    assert (result.returncode, result.stderr) == (EXIT_PIPE_CLOSED, "")
    if args[0] == "demo":
        assert sf.info(tmp_path / "demo.wav").frames == 30 * 44100  # the work was done


def test_errors_still_shown_and_quiet_when_stderr_is_closed_too(tmp_path):
    args = ["analyze", tmp_path / "missing.wav"]
    result = run_into_closed_pipe(args)
    assert result.returncode == 2 and "missing.wav: no such file" in result.stderr
    result = run_into_closed_pipe(args, stderr_too=True)  # `2>&1 | head`: nowhere to say it
    assert result.returncode == EXIT_PIPE_CLOSED and result.stderr is None


def test_help_into_a_closed_pipe_is_quiet():
    for args in (["--help"], ["master", "--help"], ["batch", "--help"]):
        result = run_into_closed_pipe(args)
        assert result.returncode in (0, EXIT_PIPE_CLOSED) and result.stderr == ""


def test_head_closing_the_pipe_mid_output(wav):
    """`| head -c 40` reads a little of a longer output and exits: whether our writes were
    done before it closed (0) or not (141) is up to the scheduler; never a message."""
    command = f"{sys.executable} -u -m pymaster presets --json | head -c 40; " \
              "echo \" ${PIPESTATUS[0]}\""
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=120)
    assert result.stderr == ""
    head, status = result.stdout.rsplit(" ", 1)
    assert head.startswith("[\n  {") and len(head) == 40
    assert int(status) in (0, EXIT_PIPE_CLOSED)


def test_closed_stream_tells_a_gone_reader_from_a_slow_one():
    reader, writer = os.pipe()
    try:
        assert not _closed_stream(writer)  # a reader that has not read yet: still open
        os.close(reader)
        assert _closed_stream(writer)
    finally:
        os.close(writer)


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, action.choices


def test_every_command_and_option_is_described():
    parser, commands = subcommands()
    assert set(commands) >= {"master", "analyze", "presets", "demo", "batch", "devices",
                             "live", "midi-ports"}
    for name, command in [("", parser)] + list(commands.items()):
        assert command.description, f"pymaster {name}: no description"
        assert f"pymaster {name}".strip() in (command.epilog or ""), f"{name}: no example"
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(a.help for a in action._choices_actions)
                continue
            flag = "/".join(action.option_strings) or action.dest
            assert action.help and action.help != argparse.SUPPRESS, \
                f"pymaster {name} {flag}: no help"
        quiet = next((a for a in command._actions if "-q" in a.option_strings), None)
        if quiet is not None:  # only where there is a progress bar or a summary to silence
            assert name in ("master", "demo", "batch"), f"pymaster {name} -q"


def test_help_examples_are_valid_commands():
    """Every example in the help parses (a typo there would mislead at the worst moment)."""
    parser, commands = subcommands()
    for name, command in [("", parser)] + list(commands.items()):
        for line in command.epilog.splitlines()[1:]:
            words = line.split()
            assert words[0] == "pymaster", line
            parser.parse_args([w.strip("'") for w in words[1:]])
