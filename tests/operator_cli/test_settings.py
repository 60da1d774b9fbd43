"""Where dpctl finds the platform: the environment over dev.env, key by key, and the same
variable names (and defaults) every platform process reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from operator_cli.failures import USAGE, UsageFailure
from operator_cli.settings import ENV_FILE_VAR, env_file_path, load, merge, parse_env_file
from platform_common.config import DEFAULT_PORTS

SECRET = "s" * 40


def test_the_launchers_file_is_read_with_what_people_add_by_hand() -> None:
    text = (
        "DP_JWT_SECRET=abc=def\n"  # values may hold '=' (base64 secrets do)
        "\n# a comment\n"
        "export DP_DISPUTE_TARGET=127.0.0.1:6000\n"
        "DP_ORDER_TARGET='127.0.0.1:6001'\n"
        'DP_REFUND_TARGET="127.0.0.1:6002"\n'
        "not a line\n"
    )
    assert parse_env_file(text) == {
        "DP_JWT_SECRET": "abc=def",
        "DP_DISPUTE_TARGET": "127.0.0.1:6000",
        "DP_ORDER_TARGET": "127.0.0.1:6001",
        "DP_REFUND_TARGET": "127.0.0.1:6002",
    }


def test_the_environment_wins_and_an_empty_variable_does_not() -> None:
    merged = merge({"A": "env", "B": "", "C": "only-env"}, {"A": "file", "B": "file", "D": "only-file"})
    assert merged == {"A": "env", "B": "file", "C": "only-env", "D": "only-file"}


def test_which_file_explicit_then_variable_then_the_data_directory(tmp_path: Path) -> None:
    given = tmp_path / "x.env"
    assert env_file_path({ENV_FILE_VAR: "/elsewhere.env"}, given) == (given, True)
    assert env_file_path({ENV_FILE_VAR: "/elsewhere.env"}, None) == (Path("/elsewhere.env"), True)
    assert env_file_path({"DP_DATA_DIR": str(tmp_path)}, None) == (tmp_path / "dev.env", False)


def test_addresses_and_secret_come_from_the_file_unless_the_environment_says_otherwise(
    tmp_path: Path,
) -> None:
    (tmp_path / "dev.env").write_text(
        f"DP_JWT_SECRET={SECRET}\nDP_DISPUTE_TARGET=127.0.0.1:7001\nDP_ORDER_TARGET=127.0.0.1:7002\nDP_DAY_SECONDS=0.5\n"
    )
    env = {"DP_DATA_DIR": str(tmp_path), "DP_ORDER_TARGET": "10.0.0.9:50051"}
    settings = load(None, env)
    assert settings.source == tmp_path / "dev.env"
    assert settings.target("DISPUTE") == "127.0.0.1:7001"  # from the file
    assert settings.target("ORDER") == "10.0.0.9:50051"  # the environment wins
    assert settings.target("REFUND") == f"127.0.0.1:{DEFAULT_PORTS['REFUND']}"  # the platform's default
    assert settings.secret() == SECRET
    assert settings.day() == timedelta(seconds=0.5)


def test_without_any_file_the_defaults_hold_and_a_token_cannot_be_minted(tmp_path: Path) -> None:
    settings = load(None, {"DP_DATA_DIR": str(tmp_path)})
    assert settings.source is None
    assert settings.day() == timedelta(days=1)
    with pytest.raises(UsageFailure, match="DP_JWT_SECRET") as refused:
        settings.secret()
    assert refused.value.exit_code == USAGE


def test_a_file_asked_for_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageFailure, match="does not exist"):
        load(tmp_path / "missing.env", {})
    with pytest.raises(UsageFailure, match="does not exist"):
        load(None, {ENV_FILE_VAR: str(tmp_path / "missing.env")})


def test_a_short_secret_is_refused_as_the_services_refuse_it(tmp_path: Path) -> None:
    (tmp_path / "dev.env").write_text("DP_JWT_SECRET=short\n")
    with pytest.raises(UsageFailure, match="at least 32 bytes"):
        load(tmp_path / "dev.env", {}).secret()
