"""The web page in a real headless Chromium (Debian's /usr/bin/chromium via Playwright).

Skipped where Chromium is missing (``make browser`` installs it), failed so under CI=true.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from builders import make_results
from requirements import require

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INJECTION = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
METHODS = {"browser-alpha": 0.3, "browser-beta": 0.9, "browser-gamma": 0.6}


@pytest.fixture(scope="module")
def browser():
    require(f"Chromium at {CHROMIUM}", Path(CHROMIUM).is_file(), "make browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def board(live):
    """Returns the server's URL after submitting three entries with known scores."""
    server, token = live
    for name, skill in METHODS.items():
        results = make_results(name, skill=skill, description=INJECTION, matched=True)
        answer = httpx.post(
            server.url + "/api/v1/entries",
            content=results.model_dump_json(),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert answer.status_code in (200, 201), answer.text
    return server.url


def assert_not_blank(path) -> None:
    pixels = np.asarray(Image.open(path).convert("L"), float)
    assert pixels.std() > 10, f"{path} looks blank"
    assert len(np.unique(pixels)) > 20


def column(page, key: str) -> list[str]:
    return page.locator(f'#entries tbody td[data-key="{key}"]').evaluate_all(
        "cells => cells.map(c => c.dataset.value)"
    )


def test_table_renders_and_sorts_by_clicking_headers(browser, board, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(board + "/?method=browser-")
    assert column(page, "method") == ["browser-beta", "browser-gamma", "browser-alpha"]
    scores = [float(v) for v in column(page, "score")]
    assert scores == sorted(scores, reverse=True)
    header = page.locator('#entries th[data-key="score"]')
    assert header.get_attribute("aria-sort") == "descending"

    header.locator("a").click()
    page.wait_for_load_state()
    assert column(page, "method") == ["browser-alpha", "browser-gamma", "browser-beta"]
    assert page.locator('#entries th[data-key="score"]').get_attribute("aria-sort") == "ascending"

    page.locator('#entries th[data-key="method"] a').click()
    page.wait_for_load_state()
    assert column(page, "method") == ["browser-alpha", "browser-beta", "browser-gamma"]

    shot = tmp_path / "table.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_not_blank(shot)
    assert dialogs == []
    page.close()


def test_entry_page_shows_figures_and_escapes_injection(browser, board, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(board + "/?method=browser-beta")
    page.get_by_role("link", name="browser-beta").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#method-name").inner_text().startswith("browser-beta")
    for name in ("curves", "reachability", "robustness"):
        img = page.locator(f"#figure-{name}")
        assert img.evaluate("i => i.complete && i.naturalWidth") >= 600, name
    # the description is shown as text: no script element, no injected image, nothing ran
    assert page.locator("#description").inner_text() == INJECTION
    assert page.locator("script").count() == 0
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert errors == []
    shot = tmp_path / "entry.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_not_blank(shot)

    page.get_by_role("link", name="maze-v1").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#seeds tbody tr").count() == 3
    assert page.locator("#robustness").is_visible()
    for name in ("curves", "reachability", "robustness"):
        assert page.locator(f"#figure-{name}").evaluate("i => i.naturalWidth") >= 600
    page.close()


def test_page_works_with_javascript_off(browser, board):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(board + "/?method=browser-")
    assert len(column(page, "method")) == 3
    page.locator('#entries th[data-key="method"] a').click()
    page.wait_for_load_state()
    assert column(page, "method") == ["browser-alpha", "browser-beta", "browser-gamma"]
    page.get_by_role("link", name="browser-gamma").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#figure-curves").evaluate("i => i.naturalWidth") >= 600
    context.close()
