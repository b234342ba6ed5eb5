"""Settings from the environment and .env files, `loopwatch config`, and docs/settings.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_core import PydanticUndefined

from loopwatch.cli import main
from loopwatch.settings import Settings
from loopwatch.settings_doc import MASK

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "settings.md"
ROW = re.compile(r"^\| `(LOOPWATCH_[A-Z0-9_]+)` \| (.*?) \| (.*) \|$")


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of our own (no developer's .env) and no LOOPWATCH_* variables."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"LOOPWATCH_{name.upper()}", raising=False)
    monkeypatch.delenv("LOOPWATCH_ENV_FILE", raising=False)
    return tmp_path


def config_lines(capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[str, str]]:
    """`loopwatch config` as variable → (value, source)."""
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines()[2:]:
        variable, value, source = re.split(r"\s{2,}", line.strip(), maxsplit=2)
        rows[variable] = (value, source)
    return rows


# --- where values come from -----------------------------------------------------------------


def test_a_dot_env_file_in_the_working_directory_is_read(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean / ".env").write_text("LOOPWATCH_ACTIVE_AFTER=7\nLOOPWATCH_WEB_PORT=7001\nOTHER=x\n")
    assert Settings().active_after == 7
    monkeypatch.setenv("LOOPWATCH_WEB_PORT", "7002")  # the environment wins over the file
    settings = Settings()
    assert (settings.active_after, settings.web_port) == (7, 7002)


def test_loopwatch_env_file_names_another_file(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / ".env").write_text("LOOPWATCH_ACTIVE_AFTER=7\n")
    other = clean / "prod.env"
    other.write_text("LOOPWATCH_ACTIVE_AFTER=9\n")
    monkeypatch.setenv("LOOPWATCH_ENV_FILE", str(other))
    assert Settings().active_after == 9
    monkeypatch.setenv("LOOPWATCH_ENV_FILE", str(clean / "missing.env"))
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"loopwatch config: LOOPWATCH_ENV_FILE={clean / 'missing.env'}: no such file; name an"
        " existing .env file, or unset it to read ./.env"
    )


def test_config_names_the_source_of_every_value(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean / ".env").write_text("LOOPWATCH_ACTIVE_AFTER=7\nLOOPWATCH_WEB_PORT=7001\n")
    monkeypatch.setenv("LOOPWATCH_WEB_PORT", "7002")
    rows = config_lines(capsys)
    assert set(rows) == {f"LOOPWATCH_{name.upper()}" for name in Settings.model_fields}
    assert rows["LOOPWATCH_ACTIVE_AFTER"] == ("7", ".env file")
    assert rows["LOOPWATCH_WEB_PORT"] == ("7002", "environment")
    assert rows["LOOPWATCH_WINDOW_SECONDS"] == ("300.0", "default")
    assert rows["LOOPWATCH_KAFKA_BROKER"] == ("(unset)", "default")


def test_config_says_which_file_it_read(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config"]) == 0
    assert capsys.readouterr().out.startswith("settings file: none (no ./.env,")
    (clean / "x.env").write_text("")
    monkeypatch.setenv("LOOPWATCH_ENV_FILE", "x.env")
    assert main(["config"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"settings file: {clean / 'x.env'} (named by LOOPWATCH_ENV_FILE)"


def test_config_masks_secrets(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = {
        "LOOPWATCH_ALERT_URLS": "https://hooks.slack.com/services/T0/B0/slack-key,https://a.example/h",
        "LOOPWATCH_ALERT_SECRET": "hmac-key",
        "LOOPWATCH_WEB_TOKEN": "bearer-token",
        "LOOPWATCH_PUBLIC_URL": "https://ops:url-password@loopwatch.example/",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    (clean / ".env").write_text("LOOPWATCH_KAFKA_BROKER=kafka://user:broker-password@k:9092\n")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for hidden in ("slack-key", "hmac-key", "bearer-token", "url-password", "broker-password"):
        assert hidden not in out
    rows = config_lines(capsys)
    assert rows["LOOPWATCH_ALERT_URLS"] == (f"{MASK},{MASK}", "environment")
    assert rows["LOOPWATCH_ALERT_SECRET"] == (MASK, "environment")
    assert rows["LOOPWATCH_WEB_TOKEN"] == (MASK, "environment")
    assert rows["LOOPWATCH_PUBLIC_URL"][0] == f"https://ops:{MASK}@loopwatch.example/"
    assert rows["LOOPWATCH_KAFKA_BROKER"] == (f"kafka://user:{MASK}@k:9092", ".env file")


# --- the data directory ---------------------------------------------------------------------


def test_data_dir_defaults_to_the_users_state_directory(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(clean / "state"))
    assert Settings().data_dir == str(clean / "state" / "loopwatch")
    monkeypatch.setenv("HOME", str(clean / "home"))
    monkeypatch.delenv("XDG_STATE_HOME")
    assert Settings().data_dir == str(clean / "home" / ".local" / "state" / "loopwatch")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG spec: ignore it
    assert Settings().data_dir == str(clean / "home" / ".local" / "state" / "loopwatch")
    monkeypatch.setenv("LOOPWATCH_DATA_DIR", "/var/lib/loopwatch")
    assert Settings().data_dir == "/var/lib/loopwatch"


# --- docs/settings.md -----------------------------------------------------------------------


def doc_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match[1]] = (_unescape(match[2]), _unescape(match[3]))
    return rows


def _unescape(cell: str) -> str:
    return re.sub(r"\\([\\|<>])", r"\1", cell)


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_the_settings_table_documents_every_setting_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = doc_rows()
    expected = {f"LOOPWATCH_{name.upper()}" for name in Settings.model_fields}
    assert set(rows) == expected, "run `loopwatch config --markdown > docs/settings.md`"
    for name, field in Settings.model_fields.items():
        default, description = rows[f"LOOPWATCH_{name.upper()}"]
        assert description == field.description, name
        if field.default is not PydanticUndefined:
            value = field.default
            shown = (
                "(unset)"
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            assert default == shown, name
    assert (
        rows["LOOPWATCH_DATA_DIR"][0] == "$XDG_STATE_HOME/loopwatch, else ~/.local/state/loopwatch"
    )
    assert rows["LOOPWATCH_ALERT_URLS"][0] == "(none)"
    # And the committed file is exactly what the generator writes today.
    assert main(["config", "--markdown"]) == 0
    assert capsys.readouterr().out == DOC.read_text(), (
        "docs/settings.md is stale: run `loopwatch config --markdown > docs/settings.md`"
    )
