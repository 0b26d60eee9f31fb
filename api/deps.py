"""FastAPI dependencies shared by the routes, as `Annotated` type aliases.

Tests swap them with `app.dependency_overrides[get_settings] = ...`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from streams.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
