"""dpctl's failures that need no platform: usage errors exit 2, an unreachable service is one
line and exit 1, and none of them shows a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from operator_cli.app import app

SECRET = "k" * 40


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {"DPCTL_ENV_FILE": None, "DPCTL_TOKEN": None, "DP_DATA_DIR": str(tmp_path)}
    env.update({f"DP_{k}_TARGET": None for k in ("ORDER", "DISPUTE", "EVIDENCE", "REFUND")})
    env.update({"DP_JWT_SECRET": SECRET, "DP_DAY_SECONDS": None})
    env.update(extra)
    return env


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, said in (
        (["--as", "wizard:x", "queue"], "unknown role"),
        (["--as", "arbiter:a", "queue", "--mine", "--breached"], "at most one of"),
        (["--as", "arbiter:a", "--token", "t", "queue"], "either --token or --as"),
        (["queue"], "no token"),
        (["--as", "arbiter:a", "disputes", "list", "--status", "closed"], "not one of"),
        (
            [
                "--as",
                "arbiter:a",
                "decide",
                "d",
                "--refund",
                "1.234",
                "--currency",
                "EUR",
                "--rationale",
                "r",
            ],
            "decimals",
        ),
        (["--as", "buyer:b", "evidence", "upload", str(tmp_path), "--dispute", "d"], "directory"),
    ):
        result = runner.invoke(app, args, env=_env(tmp_path))
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_without_a_secret_minting_is_a_usage_error_naming_the_variable(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["token", "--role", "buyer", "--subject", "b"], env=_env(tmp_path, DP_JWT_SECRET=None)
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "DP_JWT_SECRET" in result.stderr


def test_an_unreachable_service_is_one_line_naming_it(tmp_path: Path) -> None:
    port = _closed_port()
    env = _env(tmp_path, DP_DISPUTE_TARGET=f"127.0.0.1:{port}")
    for json_flag in ([], ["--json"]):
        result = CliRunner().invoke(app, [*json_flag, "--as", "service:support", "disputes", "list"], env=env)
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "UNAVAILABLE" in lines[0] and f"127.0.0.1:{port}" in lines[0], lines
        assert result.stdout == ""


def test_a_file_that_cannot_be_written_is_one_line_too(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "clip.mp4"
    result = CliRunner().invoke(
        app, ["--as", "buyer:b", "evidence", "download", "e", "-o", str(target)], env=_env(tmp_path)
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == f"dpctl: cannot write {target}: No such file or directory"
    assert "Traceback" not in result.output


def _no_crash(result: object) -> None:
    """CliRunner keeps exceptions: a crash is an exception that is not the CLI's own exit."""
    exc = getattr(result, "exception", None)
    assert exc is None or isinstance(exc, SystemExit), repr(exc)


def test_bad_settings_are_refused_before_any_call(tmp_path: Path) -> None:
    runner = CliRunner()
    # A closed port: were a call made, the failure would be UNAVAILABLE (exit 1), not exit 2.
    target = f"127.0.0.1:{_closed_port()}"
    for day in ("abc", "inf", "nan", "1e400", "-1"):
        result = runner.invoke(
            app,
            ["--as", "arbiter:a", "claim", "d1"],
            env=_env(tmp_path, DP_DAY_SECONDS=day, DP_DISPUTE_TARGET=target),
        )
        _no_crash(result)
        assert result.exit_code == 2 and "DP_DAY_SECONDS" in result.output, (day, result.output)
    (tmp_path / "dev.env").write_bytes(b"DP_JWT_SECRET=\xff\xfe\n")
    result = runner.invoke(
        app, ["token", "--role", "buyer", "--subject", "b"], env=_env(tmp_path, DP_JWT_SECRET=None)
    )
    _no_crash(result)
    assert result.exit_code == 2 and "not UTF-8" in result.output


def test_an_amount_past_what_money_can_hold_is_a_usage_error(tmp_path: Path) -> None:
    args = ["--as", "arbiter:a", "decide", "d", "--currency", "EUR", "--rationale", "r", "--refund"]
    result = CliRunner().invoke(app, [*args, "92233720368547758.08"], env=_env(tmp_path))
    _no_crash(result)
    assert result.exit_code == 2 and "more than any amount" in result.output


def test_text_from_the_api_is_shown_as_written_never_as_markup() -> None:
    from operator_cli.render import Output

    out = Output()
    hostile = "See [/x] and [link=https://evil.example]here[/link] :smile:"
    with out.console.capture() as captured:
        out.show(f"{hostile}")
    assert hostile in captured.get()


def test_usage_errors_and_a_malformed_token_are_one_line_json_with_json(tmp_path: Path) -> None:
    cases = [
        (["disputes", "show"], "Missing argument 'dispute_id'. (see dpctl disputes show --help)"),
        (["--bogus", "queue"], "No such option: --bogus"),
        (["--token", "eyJ.a\nb", "disputes", "list"], "the token has characters no bearer token has"),
    ]
    for args, said in cases:
        for json_flag in ([], ["--json"]):
            result = CliRunner().invoke(app, [*json_flag, *args], env=_env(tmp_path), prog_name="dpctl")
            assert result.exit_code == 2, (args, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and said in lines[0], (args, lines)
            if json_flag:
                assert said in json.loads(lines[0])["error"]
            else:
                assert lines[0].startswith("dpctl: ")
            assert result.stdout == ""


def test_a_reader_that_went_away_ends_it_quietly_with_141(tmp_path: Path) -> None:
    """`dpctl ... | head`: no traceback, no error line, the status a shell tool would have."""
    read, write = os.pipe()
    os.close(read)
    env = dict(os.environ)
    for name, value in _env(tmp_path).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    try:
        done = subprocess.run(
            [sys.executable, "-m", "operator_cli", "token", "--role", "buyer", "--subject", "b"],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, b"")
