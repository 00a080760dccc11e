"""The dashboard's first load in Chromium on a cold cache, over loopback (budget: under 1 s).

Fills a base like `make run` does (2,000 customers, 6,000 orders, scores) in its own data
directory, starts `clientbase serve` without the worker, and for each run opens a fresh browser
context (empty cache), logs in and opens the dashboard. Prints, per run and as the median:
the load event and the moment both charts are drawn, counted from the start of navigation,
and the bytes the page's static files took on the wire.

    .venv/bin/python bench/dashboard_first_load.py [--runs 5] [--port 8797]
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from _base import CLIENTBASE, ROOT, demo_base, run

PASSWORD = "bench-password-Kx93"  # noqa: S105 - a throwaway bench base
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def wait_for_server(port: int) -> None:
    for _ in range(150):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def one_cold_load(browser: object, base: str) -> tuple[float, float, int, list[str]]:
    """(load event ms, charts drawn ms, static bytes on the wire, encodings of the big files)."""
    context = browser.new_context(locale="ru-RU", viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/customers/")
    # Log-in loaded bootstrap and app files: start the dashboard from an empty cache again,
    # keeping only the session cookie.
    cookies = context.cookies()
    context.close()
    context = browser.new_context(locale="ru-RU", viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
    context.add_cookies(cookies)
    page = context.new_page()
    sizes: list[int] = []
    encodings: list[str] = []

    def on_response(response: object) -> None:
        url = response.url  # type: ignore[attr-defined]
        if "/static/" not in url:
            return
        headers = response.all_headers()  # type: ignore[attr-defined]
        body = len(response.body())  # type: ignore[attr-defined]
        sizes.append(int(headers.get("content-length", body)))
        if "plotly" in url:
            encodings.append(headers.get("content-encoding", "identity"))

    page.on("response", on_response)
    page.goto(f"{base}/analytics/", wait_until="load")
    page.wait_for_selector("#chart-revenue .main-svg", state="attached")
    page.wait_for_selector("#chart-new-customers .main-svg", state="attached")
    drawn = page.evaluate("performance.now()")
    load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    context.close()
    return load, drawn, sum(sizes), encodings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--data-dir", default=str(ROOT / "var" / "bench-dashboard"))
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    env = demo_base(Path(args.data_dir), customers=2000, orders=6000, seed=7)
    run(env, "analytics", "refresh")
    run(
        env,
        "shell",
        "-c",
        "from clientbase.accounts.models import User\n"
        "u, _ = User.objects.get_or_create(username='bench', defaults={'role': 'admin'})\n"
        f"u.role = 'admin'; u.set_password('{PASSWORD}'); u.save()\n",
    )
    server = subprocess.Popen(
        [CLIENTBASE, "serve", "--no-worker", "--port", str(args.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_server(args.port)
        base = f"http://127.0.0.1:{args.port}"
        loads, draws = [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            one_cold_load(browser, base)  # the server's own first request warms its imports
            for number in range(1, args.runs + 1):
                load, drawn, wire, encodings = one_cold_load(browser, base)
                loads.append(load)
                draws.append(drawn)
                print(
                    f"run {number}: load event {load:.0f} ms, charts drawn {drawn:.0f} ms, "
                    f"static files {wire / 1e6:.2f} MB on the wire, plotly {encodings}"
                )
            browser.close()
        print(
            f"median: load event {statistics.median(loads):.0f} ms, "
            f"charts drawn {statistics.median(draws):.0f} ms (budget: under 1000 ms)"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
