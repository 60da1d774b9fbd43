"""`dpctl evidence upload|download`: files streamed in chunks to and from EvidenceService, with
a progress bar of bytes and rate on stderr.

An upload declares its size and SHA-256 up front, so the server refuses a file that changed
while it was read, and keeps nothing of it. A download lands in a hidden .FILE.<random>.part beside it and becomes FILE only
once its size and SHA-256 match what EvidenceService recorded: a broken transfer never leaves a
file that looks complete.
"""

from __future__ import annotations

import enum
import hashlib
import mimetypes
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial as partial_call
from pathlib import Path
from typing import Annotated

import typer
from common.v1 import common_pb2
from evidence.v1 import evidence_pb2
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from operator_cli.commands import session_of
from operator_cli.failures import Failure, Refusal, UsageFailure
from operator_cli.record_views import evidence_view
from operator_cli.render import Output, as_dict
from operator_cli.transfer import FileRead, Meter, sha256_of

app = typer.Typer(help="Evidence files: upload, download.", no_args_is_help=True)


class Side(enum.StrEnum):
    buyer = "buyer"
    seller = "seller"


_SIDES = {Side.buyer: common_pb2.ROLE_BUYER, Side.seller: common_pb2.ROLE_SELLER}


@contextmanager
def _bar(out: Output, description: str, total: int | None) -> Iterator[tuple[Progress, TaskID]]:
    """A live bar on a terminal. A transfer that fails erases it, so its one error line is all
    that stays. Without a terminal (a log, a pipe) nothing animates: the final state is printed
    once, on success."""
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=out.errors, disable=not out.errors.is_terminal)
    with progress:
        task = progress.add_task(description, total=total)
        try:
            yield progress, task
        except BaseException:
            progress.live.transient = True
            raise
    if progress.disable:
        out.errors.print(progress.make_tasks_table(progress.tasks))


def _rate(n: int, seconds: float) -> str:
    mib = n / 1024 / 1024
    return f"{mib:.1f} MiB in {seconds:.1f} s ({mib / seconds if seconds > 0 else 0:.1f} MiB/s)"


@app.command("upload")
def upload(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to send.")
    ],
    dispute: Annotated[str, typer.Option(help="The dispute it is for.")] = "",
    order: Annotated[str, typer.Option(help="The order it is for (before a dispute exists).")] = "",
    name: Annotated[str, typer.Option(help="File name to record (default: the file's own).")] = "",
    content_type: Annotated[
        str, typer.Option(help="Declared MIME type (the server detects the real one).")
    ] = "",
    side: Annotated[Side | None, typer.Option("--for", help="Services only: whose evidence it is.")] = None,
    checksum: Annotated[bool, typer.Option(help="Send the file's SHA-256 for the server to check.")] = True,
) -> None:
    """Upload one photo, video or PDF to a dispute (or an order)."""
    if bool(dispute) == bool(order):
        raise UsageFailure("give exactly one of --dispute or --order")
    session = session_of(ctx)
    size = file.stat().st_size
    metadata = evidence_pb2.UploadMetadata(
        dispute_id=dispute,
        order_id=order,
        filename=name or file.name,
        content_type=content_type or mimetypes.guess_type(file.name)[0] or "",
        size_bytes=size,
        sha256=sha256_of(file) if checksum else "",
        on_behalf_of=_SIDES[side] if side else common_pb2.ROLE_UNSPECIFIED,
    )
    started = time.monotonic()
    with _bar(session.out, f"upload {file.name}", size) as (progress, task):
        meter = Meter(lambda n: progress.advance(task, n))
        read = FileRead(metadata, file, meter)
        try:
            resp: evidence_pb2.UploadEvidenceResponse = session.upload(
                "EVIDENCE", "UploadEvidence", iter(read)
            )
        except Refusal:
            if read.error is not None:  # gRPC says only UNKNOWN: say what the file did
                raise Failure(
                    f"cannot read {file}: {read.error.strerror or read.error}; nothing was kept"
                ) from None
            raise
    elapsed = time.monotonic() - started
    if session.out.json:
        session.out.message(resp, bytes_sent=meter.total, seconds=round(elapsed, 3))
        return
    session.out.show(evidence_view(resp.evidence))
    session.out.note(f"sent {_rate(meter.total, elapsed)}")


@app.command("download")
def download(
    ctx: typer.Context,
    evidence_id: Annotated[str, typer.Argument(help="The evidence id.")],
    output: Annotated[Path, typer.Option("-o", "--output", dir_okay=False, help="Where to write it.")],
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Download one evidence file, checked against its recorded size and SHA-256."""
    if output.exists() and not force:
        raise UsageFailure(f"{output} exists (--force replaces it)")
    session = session_of(ctx)
    # A file of its own beside the target (same file system, so the rename is atomic): two
    # downloads to one name never write into each other's half-done file. Readable by its owner
    # only (mkstemp's 0600): evidence is the parties' personal data.
    try:
        fd, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    except OSError as exc:
        raise Failure(f"cannot write {output}: {exc.strerror or exc}") from None
    partial = Path(name)
    digest, meta, received = hashlib.sha256(), evidence_pb2.Evidence(), Meter()
    started = time.monotonic()
    request = evidence_pb2.DownloadEvidenceRequest(evidence_id=evidence_id)
    try:
        with ExitStack() as stack:
            f = stack.enter_context(os.fdopen(fd, "wb"))
            for msg in session.stream("EVIDENCE", "DownloadEvidence", request):
                if msg.HasField("metadata"):  # first: the bar starts once the size is known
                    meta = msg.metadata
                    progress, task = stack.enter_context(
                        _bar(session.out, f"download {meta.filename}", meta.size_bytes)
                    )
                    received = Meter(partial_call(progress.advance, task))
                    continue
                f.write(msg.chunk)
                digest.update(msg.chunk)
                received(len(msg.chunk))
        if received.total != meta.size_bytes or digest.hexdigest() != meta.sha256:
            raise Failure(
                f"download of {evidence_id} is incomplete or corrupt: {received.total} of {meta.size_bytes} "
                f"bytes, sha256 {digest.hexdigest()} (expected {meta.sha256}); nothing was kept"
            )
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    elapsed = time.monotonic() - started
    if session.out.json:
        session.out.data({"evidence": as_dict(meta), "bytes_received": received.total, "path": str(output)})
        return
    session.out.show(evidence_view(meta))
    session.out.note(f"received {_rate(received.total, elapsed)} into {output}")
