"""Headless Chromium from Debian's packages, driven by selenium through Debian's chromedriver:
nothing downloads a browser (tests/browser/chromium.sh installs both). Also the screenshot the
README shows:

    python -m tests.browser.browser --model_uri <bundle> --output docs/page.png
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

# The flags that run Chromium here: root without a sandbox, no GPU, and no traffic of its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,1400",
)
STAGE = "/prod"


def missing() -> str | None:
    """Why no browser can run here, or None."""
    for binary in ("chromium", "chromedriver"):
        if shutil.which(binary) is None:
            return f"{binary} is not installed (tests/browser/chromium.sh installs it, as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=shutil.which("chromedriver"))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def behind_stage(app: FastAPI) -> Starlette:
    """The app under API Gateway's stage prefix, as a browser sees it (https://…/prod/), and
    at the root as a local run or a custom domain serves it."""
    return Starlette(routes=[Mount(STAGE, app=app), Mount("/", app=app)])


def analyse(driver: Any, url: str, reviews: list[str], **options: str) -> list[Any]:
    """Opens the page at `url`, pastes the reviews, clicks Analyse and returns the cards."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get(url)
    box = driver.find_element(By.ID, "reviews")
    box.clear()
    box.send_keys("\n---\n".join(reviews))
    if "strategy" in options:
        Select(driver.find_element(By.ID, "strategy")).select_by_value(options["strategy"])
    driver.find_element(By.ID, "analyse").click()
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results .card")) == len(reviews))
    wait.until(ec.element_to_be_clickable((By.ID, "analyse")))
    return driver.find_elements(By.CSS_SELECTOR, "#results .card")


def main() -> int:
    import uvicorn  # noqa: F401

    from function.config import Settings
    from function.main import create_app
    from tests.function.conftest import serve

    parser = argparse.ArgumentParser(description="a screenshot of the page on real reviews")
    parser.add_argument("--model_uri", required=True)
    parser.add_argument("--output", type=Path, default=Path("docs/page.png"))
    args = parser.parse_args()
    # Real IMDB reviews: a short one, and one longer than the window (its middle unread).
    from bench.reviews import imdb_reviews

    pool = [text for text, _ in imdb_reviews(400, seed=23)]
    reviews = [
        next(t for t in pool if 350 < len(t) < 600),
        next(t for t in pool if 1700 < len(t) < 2200),
    ]
    app = create_app(Settings(model_uri=args.model_uri, log_level="WARNING"))
    with serve(behind_stage(app)) as url, chromium() as driver:
        analyse(driver, f"{url}{STAGE}/", reviews)
        driver.set_window_size(
            1200, driver.execute_script("return document.body.scrollHeight") + 200
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
