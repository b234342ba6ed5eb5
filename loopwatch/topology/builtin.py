"""Where the built-in topologies live.

The repo's ``topologies/`` is the source of truth. A source checkout or an editable install
finds it beside the package; a regular install gets a copy through
``[tool.setuptools.data-files]`` (``<prefix>/share/loopwatch/topologies``), found through the
distribution's file list so ``--user`` and ``--prefix`` installs work too.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from loopwatch.topology.loader import TopologyError, load_topology
from loopwatch.topology.model import Topology

_DATA_DIR = ("share", "loopwatch", "topologies")


def builtin_topologies_dir() -> Path:
    """The folder holding the built-in ``*.yaml`` topologies.

    Raises FileNotFoundError when neither a source checkout nor an installed copy exists.
    """
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "topologies").is_dir():
        return repo / "topologies"
    try:
        files = metadata.distribution("loopwatch").files or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if tuple(f.parts[-4:-1]) == _DATA_DIR and f.name.endswith(".yaml"):
            return Path(str(f.locate())).resolve().parent
    raise FileNotFoundError("no built-in topologies: neither a source checkout nor installed data")


def builtin_topologies() -> list[Path]:
    """Every built-in topology file, sorted by name."""
    return sorted(builtin_topologies_dir().glob("*.yaml"))


def resolve_topology(name_or_path: str | Path) -> Topology:
    """A topology file by path, or a built-in one by name (``s3-self-loop``).

    Raises TopologyError when the path does not exist and no built-in has that name, or
    when the file is invalid.
    """
    path = Path(name_or_path)
    if path.is_file():
        return load_topology(path)
    try:
        builtins = {p.stem: p for p in builtin_topologies()}
    except FileNotFoundError:
        builtins = {}
    if str(name_or_path) in builtins:
        return load_topology(builtins[str(name_or_path)])
    known = ", ".join(sorted(builtins)) or "none installed"
    raise TopologyError(f"{name_or_path}: no such file or built-in topology (built-in: {known})")
