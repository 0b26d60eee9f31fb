"""`/` (the live dashboard) and `/static/...` (its script, style and the vendored uPlot).

Both are open: the page holds no data, and every request it makes for data carries the token
the user pasted (REST as `Authorization: Bearer`, websockets as `?token=`), so the API's rules
for data are unchanged. Caching: the page and its own script and style are `no-cache`
(revalidated by ETag / Last-Modified, so a new release shows at once); the vendored library
sits under a versioned folder and is cached for a year as immutable. The page's Content
Security Policy allows scripts, styles and connections to this origin only.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request, Response
from starlette.responses import FileResponse
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
PAGE = "index.html"
VENDOR = "vendor"
REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class DashboardAssets(StaticFiles):
    """The static folder, with the cache and security headers above on every file."""

    def file_response(self, full_path: os.PathLike[str] | str, stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        relative = Path(full_path).resolve().relative_to(STATIC_DIR)
        headers = {"Cache-Control": IMMUTABLE if relative.parts[0] == VENDOR else REVALIDATE,
                   "X-Content-Type-Options": "nosniff"}
        if relative.name == PAGE:
            headers |= {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                        "Referrer-Policy": "no-referrer"}
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result,
                                headers=headers)
        if self.is_not_modified(response.headers, Request(scope).headers):
            return NotModifiedResponse(response.headers)
        return response


assets = DashboardAssets(directory=STATIC_DIR)
router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
async def dashboard(request: Request) -> Response:
    """The live dashboard page (no token needed: it asks for one)."""
    return await assets.get_response(PAGE, request.scope)
