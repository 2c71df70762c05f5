"""The page at GET / and the API docs in a real browser: Debian's headless Chromium, over HTTP
from uvicorn, behind a stage prefix (/prod/) as API Gateway serves them, with no network beyond
this machine. Skipped loudly where no browser can be installed; under CI=true that fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from function.config import Settings
from function.main import create_app
from tests.browser.browser import STAGE, analyse, behind_stage, chromium, missing
from tests.function.conftest import serve
from tests.skips import skip_or_fail

XSS = (
    '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> '
    "Dreadful, boring and far too long."
)
REVIEWS = [
    "A warm, funny and clever film: the cast is superb and I loved every minute.",
    XSS,
    # Longer than the tiny model's 46-token window: read as chunks, it has several windows.
    "The first hour is a delight: sharp dialogue, gorgeous photography and a lead who carries "
    "every scene with ease. Then it falls apart. The second half is a dull, lazy mess, badly "
    "edited and far too long, and the ending insults everyone who stayed. I wanted to love it "
    "and I could not.",
]
# ReDoc's sidebar links its maker's logo from a CDN; the policy blocks it, as it should, and
# the docs render without it. Any other console error fails.
BLOCKED_LOGO = "Loading the image 'https://cdn.redoc.ly/"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    reason = missing()
    if reason:
        skip_or_fail(reason)
    with chromium() as d:
        yield d


@pytest.fixture(scope="module")
def base_url(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(model_uri=str(tiny_bundle), model_cache_dir=tmp_path_factory.mktemp("c"))
    with serve(behind_stage(create_app(settings))) as url:
        yield url


def console_errors(driver: Any, allow: str = BLOCKED_LOGO) -> list[str]:
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and BLOCKED_LOGO not in e["message"] and allow not in e["message"]
    ]


def test_reviews_get_labels_and_highlighted_evidence(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    cards = analyse(driver, f"{base_url}{STAGE}/", REVIEWS, strategy="chunks")
    assert len(cards) == 3
    for card, review in zip(cards, REVIEWS, strict=True):
        label = card.find_element(By.CSS_SELECTOR, ".label").text.lower()
        assert label in {"negative", "positive"}
        assert card.find_element(By.CSS_SELECTOR, ".score").text.endswith("%")
        text = card.find_element(By.CSS_SELECTOR, ".review").get_attribute("textContent")
        assert text == review  # the whole review, as typed
        marks = card.find_elements(By.CSS_SELECTOR, "mark.ev")
        assert marks and all(m.text and m.text in review for m in marks)
        for mark in marks:  # a second cue beside colour: weight and underline style
            cue = driver.execute_script(
                "const s = getComputedStyle(arguments[0]);"
                "return [s.fontWeight, s.fontStyle, s.textDecorationLine, s.textDecorationStyle]",
                mark,
            )
            toward = "toward" in mark.get_attribute("class")
            assert cue[2] == "underline"
            assert (
                (cue[0], cue[3]) == ("700", "solid")
                if toward
                else (cue[1], cue[3]) == ("italic", "dotted")
            )
    windows = cards[2].find_elements(By.CSS_SELECTOR, "ol.windows li")
    assert len(windows) > 1 and all("characters" in w.text for w in windows)
    assert not console_errors(driver)


def test_a_review_holding_markup_stays_text(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    (card,) = analyse(driver, f"{base_url}{STAGE}/", [XSS])
    assert driver.execute_script("return window.pwned") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "#results img, #results script")
    assert card.find_element(By.CSS_SELECTOR, ".review").get_attribute("textContent") == XSS


KEY = "k3y-0f-th1s-deployment"
# What authMode=apiKey leaves open (infra/page_routes.py): GET on the page and its documents.
OPEN_GETS = {"/", "/docs", "/redoc", "/openapi.json"}


def behind_api_key(app: ASGIApp) -> ASGIApp:
    """`app` as API Gateway serves it under authMode=apiKey: the page's GETs open, every other
    request without the right x-api-key answered 403 with API Gateway's body."""

    async def gate(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"].removeprefix(STAGE) or "/"
            page = scope["method"] == "GET" and (path in OPEN_GETS or path.startswith("/static/"))
            if not page and Headers(scope=scope).get("x-api-key") != KEY:
                await JSONResponse({"message": "Forbidden"}, 403)(scope, receive, send)
                return
        await app(scope, receive, send)

    return gate


@pytest.fixture(scope="module")
def keyed_url(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(model_uri=str(tiny_bundle), model_cache_dir=tmp_path_factory.mktemp("k"))
    with serve(behind_api_key(behind_stage(create_app(settings)))) as url:
        yield url


def test_under_an_api_key_the_page_asks_for_it_and_sends_it(driver: Any, keyed_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = f"{keyed_url}{STAGE}/"
    driver.get(page)
    driver.execute_script("sessionStorage.clear()")
    driver.find_element(By.ID, "reviews").send_keys(REVIEWS[0])
    driver.find_element(By.ID, "analyse").click()
    status = driver.find_element(By.ID, "status")
    WebDriverWait(driver, 60).until(lambda d: "403" in status.text)
    assert status.text.startswith("This API needs a key: paste it in the API key field")
    assert "error" in status.get_attribute("class")
    assert not driver.find_elements(By.CSS_SELECTOR, "#results .card")

    driver.find_element(By.ID, "api-key").send_keys("not-the-key")
    driver.find_element(By.ID, "analyse").click()
    WebDriverWait(driver, 60).until(lambda d: "refused the key" in status.text)

    driver.find_element(By.ID, "api-key").clear()
    driver.find_element(By.ID, "api-key").send_keys(KEY)
    driver.find_element(By.ID, "analyse").click()
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
    (card,) = driver.find_elements(By.CSS_SELECTOR, "#results .card")
    assert card.find_element(By.CSS_SELECTOR, ".label").text.lower() in {"negative", "positive"}
    assert card.find_element(By.CSS_SELECTOR, "mark.ev")

    # A reload in the same tab keeps the key, and it never went into the URL.
    driver.refresh()
    assert driver.find_element(By.ID, "api-key").get_attribute("value") == KEY
    assert KEY not in driver.current_url
    assert not console_errors(driver, allow="status of 403")


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("docs", "return document.querySelectorAll('.swagger-ui .opblock').length"),
        ("redoc", "return document.querySelectorAll('[data-section-id]').length"),
    ],
)
def test_the_api_docs_render_offline(driver: Any, base_url: str, path: str, ready: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}{STAGE}/{path}")
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(ready) >= 5)
    assert "Sentiment API" in driver.find_element("tag name", "body").text
    assert not console_errors(driver), console_errors(driver)
