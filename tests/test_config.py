"""Settings: one object, READINGROOM_* variables, each documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT, Settings


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(READINGROOM_[A-Z0-9_]+)`", readme))
    expected = {f"READINGROOM_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from README"
    assert documented - expected == set(), "README documents settings that do not exist"


def test_settings_come_from_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("READINGROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("READINGROOM_PORT", "8123")
    settings = Settings()
    assert settings.port == 8123
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'readingroom.sqlite3'}"
    assert settings.files_dir == tmp_path / "files"
    assert settings.meili_dir == tmp_path / "meilisearch"


def test_bad_values_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="index_prefix"):
        Settings(index_prefix="bad prefix!")
