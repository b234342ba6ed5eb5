"""Third-party data sets, read where they live — beside the repository, never inside it.

    <repo>/../shared/data/cloudtrail-invictus/   real CloudTrail logs (invictus-ir/aws_dataset, MIT)

loopwatch ships no third-party data. Tests that want real records find the data set from
their own file's location (the repository root is the nearest folder above it holding
``pyproject.toml``) and skip, saying what is missing, when it is not there.
"""

from __future__ import annotations

from pathlib import Path

INVICTUS = "cloudtrail-invictus"
INVICTUS_RECORDS = 2900
"""Records in the invictus set (its SOURCE.md): a replay must read every one."""
INVICTUS_FILES = 55


def shared_data_dir(anchor: str | Path, name: str) -> Path:
    """``<repo>/../shared/data/<name>`` for the repository holding ``anchor`` (a test or bench
    file); the path may not exist. ValueError when no folder above ``anchor`` is a repo root."""
    start = Path(anchor).resolve()
    for folder in start.parents:
        if (folder / "pyproject.toml").is_file():
            return folder.parent / "shared" / "data" / name
    raise ValueError(f"{anchor} is not inside a repository (no pyproject.toml above it)")


def invictus_dir(anchor: str | Path) -> Path:
    """The invictus CloudTrail logs for a test at ``anchor``; skips the test when absent."""
    import pytest

    path = shared_data_dir(anchor, INVICTUS)
    if not any(path.glob("*.json")):
        pytest.skip(
            f"real CloudTrail logs not found at {path} (invictus-ir/aws_dataset, third-party"
            " data kept outside the repository)"
        )
    return path
