"""Running the s9reg command line inside the test process."""

from __future__ import annotations

import pytest

from s9reg.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``s9reg ARGV…``: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err
