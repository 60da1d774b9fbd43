"""Generate Python code (messages, gRPC stubs, mypy stubs) from protos/ into gen/.

The single place code generation happens; gen/ is never committed nor edited. The test suite
regenerates into a temporary folder and compares, so stale code fails CI.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def proto_files() -> list[Path]:
    return sorted(PROTOS.rglob("*.proto"))


def generate(out: Path) -> None:
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    bin_dir = Path(sys.executable).parent
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *(str(p.relative_to(PROTOS)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for folder in (p for p in out.rglob("*") if p.is_dir()):
        (folder / "__init__.py").touch()
        if folder.parent == out:
            (folder / "py.typed").touch()  # lets mypy use the generated .pyi stubs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "gen"
        generate(staged)
        if GEN.exists():
            shutil.rmtree(GEN)
        shutil.copytree(staged, GEN)
    print(f"generated {len(proto_files())} proto files into {GEN.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
