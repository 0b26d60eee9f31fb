"""A real headless browser for the tests of pages: Debian's `chromium` driven by Playwright
(no browser download). Where chromium or Playwright is missing the test is skipped, which in
CI is a failure (`.ci/run` installs the `chromium` package)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The flags keep chromium off the network it would otherwise call (updates, sync, metrics),
# which this machine refuses; --no-sandbox because the tests may run as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# README screenshots: written into the repository when this variable is set to 1.
SCREENSHOTS = Path(__file__).parent / "browser" / "screenshots"


@dataclass
class PageErrors:
    """What a page reported as wrong: console errors, uncaught exceptions, failed requests."""

    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [*self.console, *self.exceptions, *self.requests]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if path is None:
        problem = "no chromium on PATH (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[dev]')"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {problem}")
        pytest.skip(problem)
    return path


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[tuple[object, PageErrors]]:
    """A new page of a headless chromium, with the errors it reports collected as they come.

    Yields `(page, errors)`: `page` is a playwright.sync_api.Page."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    errors = PageErrors()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.console.append(m.text)
                    if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.exceptions.append(str(exc)))
            page.on("requestfailed", lambda r: errors.requests.append(
                f"{r.url}: {r.failure}"))
            yield page, errors
        finally:
            browser.close()


def save_screenshot(page: object, name: str, tmp_path: Path) -> Path:
    """Screenshot `page` to tmp_path/name, and to tests/browser/screenshots/name (the README's
    pictures) when NAUTILUS_UPDATE_SCREENSHOTS=1."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    if os.environ.get("NAUTILUS_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / name)
    return path
