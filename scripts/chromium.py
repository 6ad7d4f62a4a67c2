"""Headless Chromium for the demo driver and the browser tests: one set of flags.

Debian's chromium and chromium-driver (apt-packages.txt).  As root it needs
--no-sandbox; the network flags keep it from calling home on a machine with no network;
WebGPU (SwiftShader adapter) needs --enable-unsafe-webgpu, and WebGL2 runs on ANGLE's
SwiftShader.
"""
from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-features=OptimizationHints,MediaRouter,Translate",
    "--enable-unsafe-webgpu",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
]
# A camera that always works: Chromium's built-in test pattern, permission pre-granted.
FAKE_CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

# selenium must use Debian's driver and never try to download one.
os.environ.setdefault("SE_CHROMEDRIVER", CHROMEDRIVER)
os.environ.setdefault("SE_OFFLINE", "true")


def driver(extra: list[str] = (), window: tuple[int, int] = (1280, 1000)):
    """A selenium WebDriver for headless Chromium that also records the console log.

    chromedriver starts every session on a fresh temporary profile, so sessions side by
    side never share one.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, *extra]:
        options.add_argument(flag)
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
