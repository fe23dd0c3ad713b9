"""The review app in a real browser (Debian's chromium, driven by Playwright) against a running
`avocado up`: sign in through the link, upload a generated talk, watch it complete, see a struck
filler in the transcript, restore a cut, render a revision, and check it is longer by that cut
(± 1 frame) and plays. A screenshot of each page goes to test-artifacts/review-app/; a console
error fails the test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from talkavocado_cli.up import sign_in_link
from tests.e2e.stack import KEY, TENANT, Stack
from tests.mediagen import Recording

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "review-app"
FPS = 25  # tests.mediagen's recordings


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def problems() -> list[str]:
    """Console errors and uncaught exceptions of the page."""
    return []


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    # The page's CSP forbids eval; Playwright's own probes (page.evaluate) need it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    opened = context.new_page()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    opened.on("console", console)
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    try:
        yield opened
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def seconds(page: Page, selector: str, attribute: str) -> float:
    value = page.locator(selector).first.get_attribute(attribute)
    assert value, f"{selector} has no {attribute}"
    return float(value)


def test_review_upload_restore_a_cut_render_and_play(
    stack: Stack, demo_recording: Recording, page: Page, problems: list[str], tmp_path: Path
) -> None:
    # Sign in through the link `avocado up` prints: the key leaves the address bar at once.
    page.goto(sign_in_link(stack.url, KEY))
    page.wait_for_selector("#upload-file", state="attached")
    assert KEY not in page.url
    assert page.locator("#account").inner_text().startswith(f"Tenant {TENANT}")
    shot(page, "1-jobs")

    # Upload a generated talk with the form's defaults.
    upload = tmp_path / "my talk.mp4"
    shutil.copy(demo_recording.path, upload)
    page.set_input_files("#upload-file", str(upload))
    page.get_by_role("button", name="Upload and edit").click()
    page.wait_for_url("**/#/jobs/*", timeout=60_000)
    page.wait_for_selector(".job-status progress, .job-status .badge.completed", timeout=60_000)
    shot(page, "2-processing")

    # It completes; the transcript shows a struck filler and the shortened pauses.
    page.wait_for_selector(".job-status .badge.completed", timeout=240_000)
    page.wait_for_selector(".transcript .item", timeout=30_000)
    struck = page.locator(".transcript .item.word.cut del")
    assert struck.count() >= 1
    assert struck.first.inner_text().strip(" ,.").lower().startswith(("um", "uh", "er"))
    shot(page, "3-review")

    # Restore a shortened pause: the kept time grows by its length.
    kept_before = seconds(page, "dd[data-kept]", "data-kept")
    pause = page.locator(".transcript .item.pause.cut").first
    start = float(pause.get_attribute("data-start") or "nan")
    pause.click()
    page.locator(".saving", has_text="Saved.").wait_for(timeout=30_000)
    kept_after = seconds(page, "dd[data-kept]", "data-kept")
    restored = kept_after - kept_before
    assert restored > 0.3, (kept_before, kept_after)
    mark = page.locator(f".transcript .item[data-start='{start}']")
    assert "kept" in (mark.get_attribute("class") or "")
    shot(page, "4-edited")

    # Render it: revision 2 appears, longer than revision 1 by the restored pause.
    first = seconds(page, "li[data-revision='1'] .duration", "data-duration")
    page.get_by_role("button", name="Render this edit").click()
    done = "li[data-revision='2'] .duration:not([data-duration=''])"
    page.wait_for_selector(done, timeout=240_000)
    second = seconds(page, done, "data-duration")
    assert second - first == pytest.approx(restored, abs=1 / FPS + 0.01), (first, second)
    shot(page, "5-revision")

    # And it plays.
    page.locator("li[data-revision='2']").get_by_role("button", name="Play").click()
    player = page.locator(".render-player video")
    player.wait_for(timeout=10_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('.render-player video');"
        " return v && v.readyState >= 2 && v.currentTime > 0.5; }",
        timeout=30_000,
    )
    duration = float(player.evaluate("video => video.duration"))
    assert duration == pytest.approx(second, abs=0.1)
    assert player.evaluate("video => video.error") is None
    shot(page, "6-playing")
    assert problems == []


def test_a_wrong_key_is_refused_with_a_sentence(
    stack: Stack, page: Page, problems: list[str]
) -> None:
    page.goto(sign_in_link(stack.url, "not-the-key-" + "x" * 30))
    error = page.locator("form .error[role='alert']")
    error.wait_for(timeout=15_000)
    assert "not accepted" in error.inner_text() or "invalid API key" in error.inner_text()
    shot(page, "0-wrong-key")
    # Signing in with the right key then works.
    page.fill("#api-key", KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#upload-file", state="attached", timeout=15_000)
    # The browser logs the refused request itself (a 401); nothing else may go wrong.
    assert [p for p in problems if "status of 401" not in p] == []
