"""``Report.to_html()``: a self-contained page (nothing outside it referenced), checked as text and as
rendered by a real headless Chromium: every layer's row and both charts in the DOM, the table sorts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_fixtures import spiking_report, with_memory

from syops.export.html import BAR_W

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Anything that could make a browser fetch: a scheme-qualified or protocol-relative address, CSS imports
# and url(), <link>, and src / href / srcset attributes of any kind.
EXTERNAL = re.compile(r"https?:|//[a-z0-9]|@import|url\(|<link|\bsrc=|\bhref=|\bsrcset=|<iframe|<object", re.I)


class _Collect(HTMLParser):
    """Elements with their attributes, for structure checks without a browser."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def _parse(document: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collect()
    parser.feed(document)
    return parser.elements


def _bars(elements, chart: str) -> list[tuple[dict, list[float]]]:
    """(group attributes, widths of its rects) for every bar of one chart (groups follow the svg)."""
    out, inside = [], False
    for tag, attrs in elements:
        if tag == "svg":
            inside = attrs.get("id") == chart
        elif inside and tag == "g":
            out.append((attrs, []))
        elif inside and tag == "rect" and out:
            out[-1][1].append(float(attrs["width"]))
    return out


def test_external_reference_check_catches_references():
    for bad in ('<img src="a.png">', "<link rel=stylesheet>", "@import 'x.css'", "url(font.woff)", "//cdn.example"):
        assert EXTERNAL.search(bad), bad


def test_document_is_self_contained_and_complete():
    report = spiking_report()
    document = report.to_html()
    assert EXTERNAL.search(document) is None, EXTERNAL.search(document)
    elements = _parse(document)
    rows = [attrs for tag, attrs in elements if tag == "tr" and "data-layer" in attrs]
    assert [(r["data-layer"], r["data-type"]) for r in rows] == [(x.name, x.type) for x in report.layers]
    energy_bars = _bars(elements, "energy-chart")
    assert [a["data-layer"] for a, _ in energy_bars] == [x.name for x in report.layers if x.energy_mj > 0]
    top = max(x.energy_mj for x in report.layers)
    for attrs, widths in energy_bars:  # AC and MAC parts together: the layer's share of the widest bar
        layer = report.layer(attrs["data-layer"], attrs["data-type"])
        assert sum(widths) == pytest.approx(BAR_W * layer.energy_mj / top, abs=0.02)
    rate_bars = _bars(elements, "rate-chart")
    neurons = [x for x in report.layers if x.output_spike_rate is not None]
    assert [a["data-layer"] for a, _ in rate_bars] == [x.name for x in neurons] and len(neurons) == 2
    assert report.methods() in document.replace("&#x27;", "'")
    inputs = "seeded random (uniform [0, 1), seed 0), poisson encoding, time layout TB"
    for text in ("45nm-fp32", "AC 0.9 pJ", "MAC 4.6 pJ", "2×8×8", "none (compute energy only)", inputs):
        assert text in document


def test_memory_energy_is_stacked_on_compute():
    report = with_memory(spiking_report())
    document = report.to_html()
    elements = _parse(document)
    bars = _bars(elements, "energy-chart")
    top = max(x.energy_mj for x in report.layers)
    for attrs, widths in bars:
        layer = report.layer(attrs["data-layer"], attrs["data-type"])
        assert widths[-1] == pytest.approx(BAR_W * layer.memory_energy_mj / top, abs=0.01)  # the memory part
        assert sum(widths) == pytest.approx(BAR_W * layer.energy_mj / top, abs=0.02)
    headers = [attrs.get("data-key") for tag, attrs in elements if tag == "th"]
    assert {"compute_energy_mj", "memory_energy_mj", "energy_mj"} <= set(headers)
    assert "sram-test (16-bit words, dense reuse none)" in document


def test_text_from_the_model_is_escaped():
    report = spiking_report()
    report.model = '<script>alert("x")</script> & co'
    report.layers[0].name = "<b>odd</b>"
    document = report.to_html()
    assert "<script>alert" not in document and "&lt;script&gt;alert" in document
    assert "<b>odd</b>" not in document and document.count("<script>") == 1


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile_dir = tmp_path / "chromium-profile"
    profile_dir.mkdir(exist_ok=True)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no host resolves: the page could not fetch anything
        f"--user-data-dir={profile_dir}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _page_requests(net_log: Path) -> set[str]:
    """Addresses the page itself asked the network for, from Chromium's net log (the browser's own
    update and sync requests carry another network isolation key than the file:// page's)."""
    events = json.loads(net_log.read_text())["events"]
    return {
        e["params"]["url"]
        for e in events
        if "url" in e.get("params", {})
        and "file://" in str(e["params"].get("network_isolation_key", ""))
        and not e["params"]["url"].startswith("file:")
    }


def _require_browser(found: str | None) -> str:
    """The browser, or a failure under CI (where .ci/run installs it), or a skip elsewhere."""
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on a CI machine (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture
def browser():
    return _require_browser(CHROMIUM)


def test_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI machine"):
        _require_browser(None)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _require_browser(None)


def test_rendered_by_headless_chromium(browser, tmp_path):
    report = spiking_report()
    page = tmp_path / "report.html"
    page.write_text(report.to_html(), encoding="utf-8")
    net_log = tmp_path / "net.json"
    run = _chromium(tmp_path, f"--log-net-log={net_log}", "--dump-dom", page.as_uri() + "#sort=energy_mj-desc")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _page_requests(net_log) == set()  # the page fetched nothing
    elements = _parse(run.stdout)
    table = next(attrs for tag, attrs in elements if tag == "table" and attrs.get("id") == "layers")
    assert table.get("data-sortable") == "ready"  # the script ran
    rows = [(a["data-layer"], a["data-type"]) for tag, a in elements if tag == "tr" and "data-layer" in a]
    by_energy = sorted(report.layers, key=lambda x: -x.energy_mj)
    assert rows == [(x.name, x.type) for x in by_energy]  # every layer, sorted by the address's #sort=
    assert [a["data-layer"] for a, _ in _bars(elements, "energy-chart")] == [x.name for x in report.layers]
    assert len(_bars(elements, "rate-chart")) == 2
    shot = tmp_path / "report.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    assert run.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_net_log_check_sees_a_page_that_fetches(browser, tmp_path):
    page = tmp_path / "fetching.html"
    page.write_text(
        '<img src="http://example.invalid/x.png"><link rel=stylesheet href="https://example.invalid/a.css">'
    )
    net_log = tmp_path / "net.json"
    assert _chromium(tmp_path, f"--log-net-log={net_log}", "--dump-dom", page.as_uri()).returncode == 0
    assert _page_requests(net_log) == {"http://example.invalid/x.png", "https://example.invalid/a.css"}
