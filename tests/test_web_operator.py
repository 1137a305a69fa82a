"""The web operator page in real headless Chromium (Selenium): it loads, drives the engine, shows live state.

Needs Debian's ``chromium`` and ``chromium-driver``; skipped with the reason when they are absent. Leaves a
screenshot in ``test-artifacts/web-operator.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from control.rest import RestSettings, RestSurface
from plugin.engine import Engine
from plugin.frames import Frame, PixelFormat, rgb_to_uyvy
from plugin.freeview.camera import CameraModel
from plugin.freeview.rig import Rig
from profiles import parse_profile
from tests.conftest import wait_until
from tests.rest_helpers import BASE, EngineDriver
from timing import ManualClock, slot_start_ns

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.integration,
    # In CI (.ci/run installs them) a missing browser is a failure, not a skip.
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="needs /usr/bin/chromium (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(not CHROMEDRIVER.exists() and not os.environ.get("CI"),
                       reason="needs chromedriver (apt-get install chromium-driver)"),
]

W, H, CAMERAS = 320, 180, 4
CYCLE = 50  # frames of the synthetic scene before it repeats


def _profile() -> Any:
    cams = "\n".join(f'[[cameras]]\nname = "cam{i:02d}"\nsource = "mem://cam{i:02d}"\n' for i in range(1, CAMERAS + 1))
    return parse_profile(f"""
name = "web test arena"
[format]
width = {W}
height = {H}
rate = "50"
[buffer]
seconds = 20.0
memory_limit = "1GB"
guardband_seconds = 0.1
[[channels]]
name = "PGM1"
outputs = ["mem://PGM1"]
[[channels]]
name = "PGM2"
outputs = ["mem://PGM2"]
{cams}
""")


def _rig() -> Rig:
    models = []
    for i in range(CAMERAS):
        angle = np.radians(-50 + 100 * i / (CAMERAS - 1))
        center = [34 * np.sin(angle), -34 * np.cos(angle), 11.0]
        models.append(CameraModel.look_at(f"cam{i + 1:02d}", center, [0, 0, 0], width=W, height=H, focal_px=330.0))
    return Rig(models, order=False)


def _scene(rig: Rig) -> Callable[[str, int], Frame]:
    """Each camera's view of a pitch with lines and a ball crossing it, prerendered as UYVY (cheap per tick)."""
    lines = []
    for x in (-52.5, 0.0, 52.5):
        lines.append([(x, y, 0.0) for y in np.linspace(-34, 34, 40)])
    for y in (-34.0, 34.0):
        lines.append([(x, y, 0.0) for x in np.linspace(-52.5, 52.5, 80)])
    t = np.linspace(0, 2 * np.pi, 60)
    lines.append([(9.15 * np.cos(a), 9.15 * np.sin(a), 0.0) for a in t])
    frames: dict[str, list[np.ndarray]] = {}
    for i, cam in enumerate(rig):
        base = np.zeros((H, W, 3), np.uint8)
        base[:] = (24, 26, 30)
        horizon = cam.project(np.array([[0.0, 400.0, 0.0]]))[0][0][1]
        top = int(np.clip(horizon if np.isfinite(horizon) else 0, 0, H))
        for row in range(top, H):
            base[row] = (38, 118, 52) if (row // 12) % 2 else (44, 132, 58)
        for line in lines:
            uv, z = cam.project(np.array(line))
            pts = uv[np.isfinite(uv).all(axis=1) & (z > 0)]
            cv2.polylines(base, [np.round(pts).astype(np.int32)], False, (235, 235, 235), 1, cv2.LINE_AA)
        cycle = []
        for k in range(CYCLE):
            img = base.copy()
            ball = np.array([[-20 + 40 * k / CYCLE, 6 * np.sin(k / 8), 0.4]])
            for dx, colour in ((0.0, (250, 250, 250)), (-6.0, (220, 40, 40)), (5.0, (40, 90, 230))):
                uv, _ = cam.project(ball + np.array([[dx, 3.0 * (dx != 0), 0.5 * (dx != 0)]]))
                r = 4 if dx == 0 else 6
                cv2.circle(img, tuple(int(v) for v in uv[0]), r, colour, -1, cv2.LINE_AA)
            cv2.putText(img, f"CAM {i + 1}", (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            cycle.append(rgb_to_uyvy(img))
        frames[cam.name] = cycle

    def frame(camera: str, slot: int) -> Frame:
        return Frame(frames[camera][slot % CYCLE], PixelFormat.UYVY, camera, slot, slot_start_ns(slot, "50"))

    return frame


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    rig = _rig()
    engine = Engine.from_profile(_profile(), clock=ManualClock(), storage_root=tmp_path / "store", rig=rig)
    driver = EngineDriver(engine, first_slot=BASE, period_s=0.02, frames=_scene(rig))
    driver.prime(100)
    driver.start()
    surface = RestSurface(engine, RestSettings(host="127.0.0.1", port=0, show_name="web test arena"))
    surface.start()
    try:
        yield engine, surface.url
    finally:
        surface.stop()
        driver.stop()
        engine.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1600,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """``wait_until``, asking again when the page is mid-update (a stale element raises)."""

    def quietly() -> Any:
        try:
            return check()
        except Exception:
            return None

    return wait_until(quietly, what, timeout=timeout, interval=0.05)


def test_operator_page_drives_the_engine(served: tuple[Engine, str], browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    engine, url = served
    browser.get(url)
    find = browser.find_element

    # The page loads: cameras, live state over the WebSocket, pictures.
    until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".tile")) == CAMERAS, "camera tiles")
    until(lambda: find(By.ID, "conn").get_attribute("data-ok") == "true", "the WebSocket")
    until(lambda: re.fullmatch(r"\d\d:\d\d:\d\d:\d\d", find(By.ID, "tc").text), "a timecode")
    assert find(By.ID, "state").text == "LIVE"
    until(lambda: find(By.ID, "pgm-frame").get_attribute("data-signal") == "true", "the programme picture")
    until(lambda: browser.execute_script(
        "return [...document.querySelectorAll('.tile img')].every(i => i.naturalWidth === 320)"), "thumbnails")

    # Play changes the channel's state (and the page shows it, from the WebSocket).
    find(By.ID, "btn-play").click()
    until(lambda: engine.channel_status("PGM1").state == "PLAYING", "PLAYING in the engine")
    until(lambda: find(By.ID, "state").text == "PLAYING", "PLAYING on the page")

    # The view slider moves s: click three quarters along a 1..4 slider.
    slider = find(By.ID, "view-s")
    width = slider.size["width"]
    ActionChains(browser).move_to_element_with_offset(slider, int(width * 0.25), 0).click().perform()
    s = until(lambda: engine.channel_status("PGM1").view_s, "a view position in the engine")
    assert 2.9 < s < 3.6, s
    until(lambda: find(By.ID, "view-s-readout").text == f"{s:.2f}", "the view readout")

    # Keyboard marks (I / O) while playing, then save a clip and cue it from the list.
    body = find(By.TAG_NAME, "body")
    body.send_keys("i")
    until(lambda: engine.channel_status("PGM1").mark_in is not None, "IN")
    time.sleep(1.0)
    body.send_keys("o")
    until(lambda: engine.channel_status("PGM1").mark_out is not None, "OUT")
    until(lambda: find(By.ID, "btn-out").get_attribute("data-on") == "true", "OUT lit on the page")
    find(By.ID, "clip-name").send_keys("corner kick")
    find(By.ID, "btn-save").click()
    row = until(lambda: find(By.CSS_SELECTOR, "#clips tbody tr"), "the saved clip in the list")
    clip_id = row.get_attribute("data-id")
    assert clip_id == engine.clips.list()[0].clip_id
    assert "corner kick" in row.text
    row.find_element(By.CSS_SELECTOR, "button.cue").click()
    until(lambda: engine.channel_status("PGM1").clip_id == clip_id, "the clip cued")
    assert engine.channel_status("PGM1").state == "CUED"
    until(lambda: find(By.CSS_SELECTOR, f"#clips tr[data-id='{clip_id}']").get_attribute("data-active") == "true",
          "the cued clip highlighted")

    # Space rolls it and stops it; the lever rolls it slower.
    body.send_keys(Keys.SPACE)
    until(lambda: engine.channel_status("PGM1").state == "PLAYING", "the clip rolling")
    until(lambda: find(By.ID, "btn-play").get_attribute("data-on") == "true", "PLAY lit")
    body.send_keys(Keys.SPACE)
    until(lambda: engine.channel_status("PGM1").speed == 0, "the clip still")
    lever = find(By.ID, "lever")
    ActionChains(browser).move_to_element_with_offset(lever, 0, 0).click().perform()
    until(lambda: 0 < engine.channel_status("PGM1").speed < 1, "the lever below 100 %")

    # Click-to-pick the pivot on camera 2's picture: a point on the pitch.
    before = engine.channel_status("PGM1").pivot
    find(By.ID, "btn-pick").click()
    tile = find(By.CSS_SELECTOR, "#tile-cam02 img")
    ActionChains(browser).move_to_element_with_offset(tile, 20, 25).click().perform()
    pivot = until(lambda: engine.channel_status("PGM1").pivot != before and engine.channel_status("PGM1").pivot,
                  "a picked pivot")
    assert abs(pivot[2]) < 1e-6 and np.hypot(pivot[0], pivot[1]) > 1.0

    # Tally from the outputs: the programme and the camera it shows go red.
    engine.set_tally("PGM1", program=True, preview=False)
    until(lambda: find(By.ID, "pgm-frame").get_attribute("data-tally") == "program", "programme tally")
    st = engine.channel_status("PGM1")
    on_air = engine.camera_names[min(CAMERAS, max(1, round(st.view_s))) - 1] if st.view_s is not None else st.camera
    until(lambda: find(By.ID, f"tile-{on_air}").get_attribute("data-tally") == "program", f"{on_air}'s tile on air")
    on = [t.get_attribute("data-cam") for t in browser.find_elements(By.CSS_SELECTOR, ".tile[data-tally='program']")]
    assert on == [on_air], on
    assert find(By.ID, "lever").get_attribute("value") == "50"  # the lever stays where it was put

    # Keep the page as it looks now.
    until(lambda: "saved" in find(By.ID, "msg").text or "pivot" in find(By.ID, "msg").text, "a message")
    time.sleep(0.6)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web-operator.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] if hasattr(browser, "get_log") else []
    assert not [e for e in logs if "preview.jpg" not in e["message"]], logs
