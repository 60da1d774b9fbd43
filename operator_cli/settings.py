"""Where dpctl finds the platform: the variables every platform process reads
(platform_common/config.py: DP_<SERVICE>_TARGET, DP_JWT_SECRET, DP_DAY_SECONDS), taken from the
environment first and then from the dev.env file `make up` writes into its data directory.

The environment wins so that one exported variable can point a single command elsewhere
without editing the file; an empty variable counts as unset, as it does for the services.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from operator_cli.failures import Failure, UsageFailure
from platform_common import auth, config

# Names dpctl adds for itself; everything else is the platform's own.
ENV_FILE_VAR = "DPCTL_ENV_FILE"
TOKEN_VAR = "DPCTL_TOKEN"


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as the launcher writes them. Also takes what people add by hand: blank
    lines, `#` comments, an `export ` prefix and a value in matching quotes."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def merge(environ: Mapping[str, str], file_values: Mapping[str, str]) -> dict[str, str]:
    """The file's values under the environment's: a non-empty variable wins."""
    merged = dict(file_values)
    merged.update({key: value for key, value in environ.items() if value != ""})
    return merged


def env_file_path(environ: Mapping[str, str], explicit: Path | None) -> tuple[Path, bool]:
    """Which file to read, and whether someone asked for it (then it must exist): --env-file,
    $DPCTL_ENV_FILE, else dev.env in the platform's data directory."""
    if explicit is not None:
        return explicit, True
    if environ.get(ENV_FILE_VAR):
        return Path(environ[ENV_FILE_VAR]), True
    return config.data_dir(environ) / config.DEV_ENV_FILE, False


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, str]
    # The dev.env file read, if any (shown in errors about a missing secret).
    source: Path | None

    def target(self, service: str) -> str:
        """Where to reach "ORDER", "DISPUTE", "EVIDENCE" or "REFUND"."""
        return config.target_address(service, self.values)

    def secret(self) -> str:
        try:
            return auth.jwt_secret(self.values)
        except RuntimeError as exc:
            where = f" (read {self.source})" if self.source else " (no dev.env found: is `make up` running?)"
            raise UsageFailure(f"cannot mint a token: {exc}{where}") from None

    def day(self) -> timedelta:
        """The platform's day (DP_DAY_SECONDS): deadlines are judged in the rules' own days."""
        try:
            return timedelta(seconds=config.day_length_seconds(self.values))
        except config.ConfigError as exc:
            raise UsageFailure(exc.message) from None
        except (OverflowError, ValueError):
            raise UsageFailure("environment variable DP_DAY_SECONDS is too large") from None


def load(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    path, required = env_file_path(env, explicit)
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise UsageFailure(f"env file {path} does not exist") from None
        return Settings(merge(env, {}), None)
    except OSError as exc:
        raise Failure(f"cannot read env file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageFailure(f"env file {path} is not UTF-8 text") from None
    return Settings(merge(env, parse_env_file(text)), path)
