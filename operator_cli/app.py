"""dpctl: the root command, its global options, and the one place where a failure becomes one
line on stderr and an exit status (operator_cli/failures.py), whichever command raised it.

    dpctl [--as ROLE:SUBJECT | --token JWT] [--json] [--env-file PATH] [--timeout S] COMMAND ...

Global options go before the command, as for git.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer import rich_utils
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from operator_cli import settings as settings_module
from operator_cli.commands import arbitration, disputes, events, evidence, records, token
from operator_cli.failures import BROKEN_PIPE, Failure, UsageFailure
from operator_cli.render import Output
from operator_cli.session import Session
from operator_cli.values import Identity, parse_identity


class DpctlGroup(TyperGroup):
    """Runs the command; a Failure (a refused call, a bad setting), a file that cannot be read
    or written, or a usage error (a missing argument, an unknown option) is printed as its one
    line, JSON with --json: a script reads every failure the same way."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        call = dict(args=argv, prog_name=prog_name, complete_var=complete_var, **extra)
        if not standalone_mode:
            return super().main(standalone_mode=False, windows_expand_args=windows_expand_args, **call)
        try:
            code = super().main(standalone_mode=False, windows_expand_args=windows_expand_args, **call)
        except NoArgsIsHelpError as shown:  # `dpctl disputes`: the group's help, as typer shows it
            rich_utils.rich_format_error(shown)
            sys.exit(shown.exit_code)
        except UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "dpctl"
            failure = UsageFailure(f"{exc.format_message()} (see {command} --help)")
            print(failure.line("--json" in argv), file=sys.stderr, flush=True)
            sys.exit(failure.exit_code)
        except ClickException as exc:
            print(Failure(exc.format_message()).line("--json" in argv), file=sys.stderr, flush=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Failure as failure:
            self._fail(ctx, failure)
        except UnicodeEncodeError:
            self._fail(
                ctx, Failure("the terminal cannot show this output (not UTF-8): use --json or a UTF-8 locale")
            )
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `dpctl ... | head`: quietly, as a shell tool does
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())  # the flush at exit would fail again
                raise typer.Exit(BROKEN_PIPE) from None
            where = f": {exc.filename}" if exc.filename else ""
            self._fail(ctx, Failure(f"{exc.strerror or exc}{where}"))

    @staticmethod
    def _fail(ctx: Any, failure: Failure) -> NoReturn:
        # The parsed --json flag: set even when the failure came before the session existed.
        as_json = bool(ctx.params.get("as_json"))
        print(failure.line(as_json), file=sys.stderr, flush=True)
        raise typer.Exit(failure.exit_code) from None


app = typer.Typer(
    cls=DpctlGroup,
    name="dpctl",
    help="The dispute platform's operator console: disputes, the arbitration desk, evidence, "
    "refunds, orders and the events feed, over the platform's gRPC API.",
    no_args_is_help=True,
    add_completion=False,
    # A bug shows a plain traceback; never rich's, which prints local variables (tokens, secrets).
    pretty_exceptions_enable=False,
)
app.add_typer(disputes.app, name="disputes")
app.add_typer(evidence.app, name="evidence")
app.add_typer(records.refunds, name="refunds")
app.add_typer(records.orders, name="orders")
app.add_typer(events.app, name="events")
arbitration.register(app)
app.command("token")(token.token)


@app.callback()
def root(
    ctx: typer.Context,
    as_: Annotated[
        Identity | None,
        typer.Option(
            "--as",
            parser=parse_identity,
            metavar="ROLE:SUBJECT",
            help="Mint a token per call from the dev secret, e.g. arbiter:arb-ana or service:support.",
        ),
    ] = None,
    bearer: Annotated[
        str | None,
        typer.Option(
            "--token", metavar="JWT", help=f"Bearer token to send (default: ${settings_module.TOKEN_VAR})."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's answer as JSON, not tables.")
    ] = False,
    env_file: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help=f"Settings file (default: ${settings_module.ENV_FILE_VAR}, else dev.env in $DP_DATA_DIR or ./data); "
            "the environment wins over it.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds a call may take (streams: no limit).")
    ] = 30.0,
) -> None:
    """Addresses (DP_<SERVICE>_TARGET) and the dev secret (DP_JWT_SECRET) come from the environment,
    else from the dev.env that `make up` writes."""
    out = Output(as_json)
    loaded = settings_module.load(env_file)
    loaded.day()  # a bad DP_DAY_SECONDS is refused here, before any call changes anything
    session = Session(
        loaded,
        out,
        token=bearer,
        identity=as_,
        env_token=loaded.values.get(settings_module.TOKEN_VAR),
        timeout=timeout,
    )
    ctx.obj = session
    ctx.call_on_close(session.close)


def main() -> None:
    """The console script `dpctl` (pyproject.toml [project.scripts])."""
    app(prog_name="dpctl")


if __name__ == "__main__":
    main()
