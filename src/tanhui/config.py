"""Settings read from ``TANHUI_*`` environment variables (and a ``.env`` file), with sensible defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has a default that runs the embedded demo; production sets the database and secret."""

    model_config = SettingsConfigDict(env_prefix="TANHUI_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///tanhui.db",
        description="SQLAlchemy URL; SQLite file (embedded) or postgresql+psycopg://user@host/db",
    )
    registry_code: str = Field(
        default="TH", pattern=r"^[A-Z]{2,8}$", description="Registry code in every serial"
    )
    default_credit_type: str = Field(default="PHCER", pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    secret_key: str | None = Field(
        default=None,
        description="JWT signing key; when unset a random key is made once and kept in the database",
    )
    token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins per username before a lock-out"
    )
    login_window_seconds: int = Field(
        default=900, ge=1, description="window (and lock-out) for failed logins"
    )
    sqlite_busy_timeout_ms: int = Field(default=60_000, ge=0)
    data_dir: Path = Field(
        default=Path("tanhui-data"),
        description="directory for files beside the database: the meter-data lake and archived monitoring reports",
    )
    mqtt_url: str = Field(default="mqtt://127.0.0.1:1883", description="MQTT broker for live meter telemetry")
    public_url: str = Field(
        default="http://127.0.0.1:8000", pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="the address the public reaches this platform at; credit reports' QR codes point there",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
