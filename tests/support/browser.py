"""A real headless Chromium (Debian's, through Selenium) and the web workspace on a free port."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.stream import wait_until
from wijkbrug.settings import Settings
from wijkbrug.web.app import build_app

REPO = Path(__file__).resolve().parents[2]


def chromium_paths() -> tuple[str, str]:
    """(browser, driver): Debian's packages, installed by scripts/chromium.sh when missing."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "chromium.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Chromium is not available:\n{result.stdout}{result.stderr}")
    found = dict(line.split("=", 1) for line in result.stdout.split() if "=" in line)
    return found["chromium"], found["chromedriver"]


@contextmanager
def chromium() -> Iterator[WebDriver]:
    browser, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def workspace(settings: Settings) -> Iterator[str]:
    """``wijkbrug web`` on ``settings`` in a thread of this process; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(build_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 30, "the web workspace to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def sign_in(chrome: WebDriver, base: str, name: str, password: str) -> None:
    chrome.delete_all_cookies()
    chrome.get(f"{base}/inloggen")
    chrome.find_element(By.NAME, "naam").send_keys(name)
    chrome.find_element(By.NAME, "wachtwoord").send_keys(password)
    chrome.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(lambda: "Uitloggen" in chrome.page_source, 20, f"{name} to be signed in")
