"""Settings: defaults, parsing, and a bad value stopping start-up with one readable line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from store.settings import Settings, SettingsError, load_settings

GOOD_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def _load(**env: str) -> Settings:
    return load_settings(_env_file=None, **env)


def test_defaults() -> None:
    settings = _load()
    assert settings.web_port == 8080
    assert settings.init_data_max_age == 86400
    assert settings.data_dir == Path("./var")
    assert settings.local_mode and settings.bot_token is None
    assert settings.admin_ids == frozenset()


def test_parsing_of_lists_and_secrets() -> None:
    key1, key2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = _load(ADMIN_IDS=" 11, 22 ,", SECRET_KEYS=f"{key1},{key2}", BOT_TOKEN=GOOD_TOKEN, LOG_LEVEL="debug")
    assert settings.admin_ids == frozenset({11, 22})
    assert [k.get_secret_value() for k in settings.secret_keys] == [key1, key2]
    assert settings.log_level == "DEBUG"
    assert not settings.local_mode
    assert GOOD_TOKEN not in repr(settings)  # secrets never print


@pytest.mark.parametrize(
    ("env", "name", "says"),
    [
        ({"WEB_PORT": "eighty"}, "WEB_PORT", "integer"),
        ({"WEB_PORT": "70000"}, "WEB_PORT", "65535"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS", "'abc' is not a Telegram id"),
        ({"SECRET_KEYS": "not-a-key"}, "SECRET_KEYS", "key #1 is not a Fernet key"),
        ({"BOT_TOKEN": "hello"}, "BOT_TOKEN", "not a Telegram bot token"),
        ({"WEBAPP_URL": "http://shop.example"}, "WEBAPP_URL", "https://"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", "postgresql://"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL", "redis://"),
        ({"INIT_DATA_MAX_AGE": "0"}, "INIT_DATA_MAX_AGE", "greater than 0"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "must be one of"),
        ({"WRITE_RATE_LIMIT": "30"}, "WRITE_RATE_LIMIT", "COUNT/SECONDS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str, says: str) -> None:
    with pytest.raises(SettingsError) as info:
        _load(**env)
    message = str(info.value)
    assert name in message and says in message
    assert "\n" not in message


def test_bad_setting_stops_the_command_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(WEB_PORT="eighty", DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "store.cli", "migrate"], env=env, capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "WEB_PORT" in lines[0] and "Traceback" not in result.stderr


def test_secret_in_bad_value_is_not_echoed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(BOT_TOKEN="s3cr3t-value-without-colon", DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "store.cli", "migrate"], env=env, capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert "s3cr3t-value-without-colon" not in result.stderr
