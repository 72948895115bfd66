"""A page in a real browser, for the tests of the pages zoo writes (`zoo compare -o
page.html`, `zoo report`): headless Chromium opens the file, and the test reads what a person
would see: the text, whether every image loaded, the console's errors, the requests that
failed, and a screenshot.

The driver is Selenium 4 with Debian's `chromium` and its version-matched `chromium-driver`
(`/usr/bin/chromedriver`, passed as the Service, so Selenium Manager never looks for or
downloads a browser or driver). `make install` installs both packages; a test calls
`require_chromium()` first, which skips it with the reason and the command when they are
missing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver"
# No network here, and no profile to keep: without these Chromium spends its start reaching
# for updates, sync and safe browsing, each a refused connection (and a log line).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars",
         "--force-device-scale-factor=1")
MAX_SCREENSHOT_HEIGHT = 12000  # a longer page is cut there: Chromium's capture limit nears
IMAGES_JS = """return Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src, complete: img.complete, naturalWidth: img.naturalWidth}));"""


@dataclass
class Page:
    """What headless Chromium showed of a page.

    Attributes:
        text: `document.body.innerText`: the text as rendered (hidden elements left out).
        images: one `{"src", "complete", "naturalWidth"}` per `<img>`, in document order
            (a `data:` URI's `src` is cut to its first 60 characters).
        broken: the `src` of every image that did not decode (`naturalWidth` 0).
        console_errors: the console's messages of level SEVERE (errors, uncaught exceptions,
            resources that failed to load).
        failed_requests: the URLs of requests that failed (a missing file, a refused host).
        screenshot: the PNG written.
    """

    text: str
    images: list[dict] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def chromium() -> str | None:
    """The path of Debian's Chromium, when it and its driver and Selenium are installed;
    otherwise None."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        return None
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return CHROMIUM


def require_chromium() -> str:
    """Debian's Chromium, or skip the calling test with the reason and the command."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
        pytest.skip(f"headless Chromium is not installed ({', '.join(missing)} missing): "
                    f"run 'make install' as root, or '{INSTALL}'")
    if chromium() is None:
        pytest.skip("the selenium package is not installed: pip install -e '.[dev]'")
    return CHROMIUM


def open_page(path: Path, screenshot: Path, width: int = 1280, height: int = 2000) -> Page:
    """Load `file://path` in headless Chromium, wait for its load event (every image
    decoded or failed), read what it shows and write a PNG screenshot of the whole page.

    Args:
        path: the HTML file.
        screenshot: the PNG to write.
        width: the window's width in CSS pixels. Defaults to `1280`.
        height: the window's height; the screenshot still covers the whole page, up to
            `MAX_SCREENSHOT_HEIGHT`. Defaults to `2000`.
    Returns:
        The `Page`.
    """
    import base64

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(path)
    url = path.as_uri()
    profile = tempfile.mkdtemp(prefix="zoo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        driver.get(url)  # returns after the load event: images done or failed
        text = driver.execute_script("return document.body ? document.body.innerText : '';")
        images = [{**image, "src": _short(image["src"])}
                  for image in driver.execute_script(IMAGES_JS)]
        errors = [entry["message"] for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE"]
        failed = _failed_requests(driver.get_log("performance"), url)
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": max(width, size["width"]),
                "height": min(max(size["height"], 1), MAX_SCREENSHOT_HEIGHT), "scale": 1}
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "clip": clip})
        screenshot = Path(screenshot)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    broken = [image["src"] for image in images if not image["naturalWidth"]]
    return Page(text=text, images=images, broken=broken, console_errors=errors,
                failed_requests=failed, screenshot=screenshot)


def _short(src: str) -> str:
    return src[:60] + "..." if src.startswith("data:") and len(src) > 63 else src


def _failed_requests(entries: list[dict], page_url: str) -> list[str]:
    """The URLs of the requests that Chromium's network log says failed, from the request of
    the page itself on (the driver's first blank tab makes requests of its own before)."""
    urls, failed, started = {}, [], False
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            started = started or url == page_url
            urls[params.get("requestId")] = url
        elif message.get("method") == "Network.loadingFailed" and started:
            failed.append(_short(urls.get(params.get("requestId"), "?")))
    return failed
