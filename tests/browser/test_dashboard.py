"""The dashboard in a real browser (R-27, R-28, R-29, R-31): it loads with a token, draws
its charts with the API's figures for the same filters, follows the filters and as-of,
downloads the exports, works by keyboard and at phone width, and logs no console error."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Demo, Watched

pytestmark = pytest.mark.browser

YEAR = "2022"  # the demo data's busiest referral year: the page's default period
CHARTS = ["caseload", "uitstroom", "providers", "doorlooptijd", "schaling", "noshow", "zrm", "cost"]
PERIOD = {"period_start": f"{YEAR}-01-01", "period_end": f"{YEAR}-12-31"}


def sign_in(w: Watched, demo: Demo, token: str) -> None:
    w.page.goto(f"{demo.url}/dashboard")
    w.page.get_by_label("Token").fill(token)
    w.page.get_by_role("button", name="Use this token").click()
    loaded(w)


def loaded(w: Watched) -> dict[str, Any]:
    """Waits for a completed load and answers the filters the page used."""
    w.page.wait_for_selector("body[data-loaded]")
    w.page.wait_for_function("document.getElementById('status').textContent.startsWith('Figures')")
    return w.page.evaluate("JSON.parse(document.body.dataset.loaded)")  # type: ignore[no-any-return]


def reload_with(w: Watched, **values: str) -> dict[str, Any]:
    w.page.evaluate("delete document.body.dataset.loaded")
    for field, value in values.items():
        if w.page.locator(f"#{field}").evaluate("e => e.tagName") == "SELECT":
            w.page.select_option(f"#{field}", value)
        else:
            w.page.fill(f"#{field}", value)
    w.page.get_by_role("button", name="Show").click()
    return loaded(w)


def tile(w: Watched, field: str) -> str:
    return w.page.get_attribute(f'#tiles dd[data-field="{field}"]', "data-value") or ""


def table(w: Watched, panel: str) -> dict[str, dict[str, str]]:
    """A figures table as {row key: {field: API value}}."""
    return w.page.evaluate(  # type: ignore[no-any-return]
        """id => Object.fromEntries([...document.querySelectorAll(`#${id} tbody tr`)].map(tr =>
            [tr.dataset.key, Object.fromEntries([...tr.children].map(c =>
                [c.dataset.field, c.dataset.value]))]))""",
        f"table-{panel}",
    )


def chart(w: Watched, panel: str) -> dict[str, Any]:
    """What Chart.js drew: labels, each dataset's numbers, and whether pixels were painted."""
    return w.page.evaluate(  # type: ignore[no-any-return]
        """id => {
            const canvas = document.getElementById(`chart-${id}`);
            const c = Chart.getChart(canvas);
            const pixels = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
            return {labels: c.data.labels, painted,
                    data: Object.fromEntries(c.data.datasets.map(d => [d.label, d.data]))};
        }""",
        panel,
    )


def same(shown: str | None, api: Any) -> bool:
    """A shown data-value against the API's JSON value (JS writes 1.0 as "1")."""
    if api is None:
        return shown == ""
    if isinstance(api, (int, float)) and not isinstance(api, bool):
        return shown not in (None, "") and float(shown) == api
    return shown == str(api)


def months_of(year: str) -> list[tuple[str, str, str]]:
    out = []
    for m in range(1, 13):
        start = date(int(year), m, 1)
        end = date(int(year) + (m == 12), m % 12 + 1, 1).toordinal() - 1
        out.append((start.strftime("%Y-%m"), start.isoformat(), date.fromordinal(end).isoformat()))
    return out


def test_r27_dashboard_loads_with_a_token_and_draws_every_chart(
    watched: Watched, demo: Demo
) -> None:
    sign_in(watched, demo, demo.token("contract_manager"))
    assert watched.page.get_by_text("Signed in as browser (contract_manager, zou)").is_visible()
    for panel in CHARTS:
        drawn = chart(watched, panel)
        assert drawn["labels"], panel
        assert drawn["painted"] > 1000, f"{panel}: the canvas is blank"
        assert watched.page.get_by_role("img", name=drawn_name(watched, panel)).is_visible()
    # the token stays in this tab only: a reload is still signed in, without asking again
    assert watched.page.evaluate("sessionStorage.getItem('caselog.token')")
    watched.page.evaluate("delete document.body.dataset.loaded")
    watched.page.reload()
    loaded(watched)
    assert watched.page.locator("#signin").is_hidden()


def drawn_name(w: Watched, panel: str) -> str:
    return w.page.get_attribute(f"#chart-{panel}", "aria-label") or ""


def test_r27_figures_shown_equal_the_api_for_the_same_filter(watched: Watched, demo: Demo) -> None:
    token = demo.token("contract_manager")
    sign_in(watched, demo, token)
    total = demo.kpis(token, **PERIOD)
    assert total["cases"] > 0  # demo data with figures: a comparison that can fail
    assert total["uitstroom"]["count"] > 0
    assert same(tile(watched, "cases"), total["cases"])
    assert same(tile(watched, "ended"), total["uitstroom"]["count"])
    assert same(tile(watched, "rate_successful"), total["uitstroom"]["rate_successful"])
    assert same(tile(watched, "rate_lasting"), total["uitstroom"]["rate_lasting"])
    assert same(
        tile(watched, "within_56"), total["doorlooptijd"]["indication_within_56_days_share"]
    )
    assert same(tile(watched, "no_show_rate"), total["no_show_rate"])
    assert tile(watched, "cost") == total["cost"]
    # per month (CBS counts): one /v1/kpis call per month, shown in the table and the chart
    caseload = table(watched, "caseload")
    drawn = chart(watched, "caseload")
    doorloop = table(watched, "doorlooptijd")
    for i, (label, start, end) in enumerate(months_of(YEAR)):
        month = demo.kpis(token, period_start=start, period_end=end)
        started = month["doorlooptijd"]["indication_to_start_days"]["n"]
        assert same(caseload[label]["cases"], month["cases"])
        assert same(caseload[label]["ended"], month["uitstroom"]["count"])
        assert same(caseload[label]["started"], started)
        assert drawn["data"]["running"][i] == month["cases"]
        assert drawn["data"]["ended"][i] == month["uitstroom"]["count"]
        spread = month["doorlooptijd"]["referral_to_indication_days"]
        assert same(doorloop[label]["median"], spread["median"])
        assert same(doorloop[label]["p90"], spread["p90"])
        assert table(watched, "cost")[label]["cost"] == month["cost"]
    # per provider: one /v1/kpis call per provider
    uitstroom = table(watched, "uitstroom")
    assert len(uitstroom) >= 2
    compared = table(watched, "providers")
    assert list(compared) == list(uitstroom)
    for provider, row in uitstroom.items():
        theirs = demo.kpis(token, provider=provider, **PERIOD)
        assert same(row["count"], theirs["uitstroom"]["count"])
        assert same(row["rate_successful"], theirs["uitstroom"]["rate_successful"])
        assert same(row["rate_lasting"], theirs["uitstroom"]["rate_lasting"])
        assert same(compared[provider]["cases"], theirs["cases"])
        assert same(compared[provider]["no_show_rate"], theirs["no_show_rate"])
        assert same(compared[provider]["cost"], theirs["cost"])
        trajectory = theirs["doorlooptijd"]["trajectory_days"]["median"]
        assert same(compared[provider]["trajectory_median"], trajectory)
    zrm = table(watched, "zrm")
    assert {k: float(v["progress"]) for k, v in zrm.items()} == total["zrm_progress"]


def test_r28_filters_and_as_of_change_the_figures(watched: Watched, demo: Demo) -> None:
    token = demo.token("contract_manager")
    sign_in(watched, demo, token)
    everyone = tile(watched, "cases")
    provider = watched.page.locator("#provider option").nth(1).get_attribute("value")
    assert provider
    used = reload_with(watched, provider=provider)
    assert used["provider"] == provider
    theirs = demo.kpis(token, provider=provider, **PERIOD)
    assert same(tile(watched, "cases"), theirs["cases"])
    assert tile(watched, "cases") != everyone
    assert list(table(watched, "uitstroom")) == [provider]
    # as known on 1 July: later registrations do not count yet
    used = reload_with(watched, provider="", as_of=f"{YEAR}-07-01")
    assert used["as_of"]
    then = demo.kpis(token, as_of=used["as_of"], **PERIOD)
    now = demo.kpis(token, **PERIOD)
    assert then["cases"] != now["cases"]
    assert same(tile(watched, "cases"), then["cases"])
    assert same(tile(watched, "ended"), then["uitstroom"]["count"])
    assert watched.page.get_by_text(f"as known on {YEAR}-07-01").is_visible()


def test_keyboard_alone_signs_in_filters_and_reaches_every_control(
    watched: Watched, demo: Demo
) -> None:
    page = watched.page
    page.goto(f"{demo.url}/dashboard")
    assert page.evaluate("document.activeElement.id") == "token"  # the page starts there
    page.keyboard.type(demo.token("municipality"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    loaded(watched)
    page.evaluate("delete document.body.dataset.loaded")
    page.focus("#product")
    page.keyboard.press("ArrowDown")  # the first product
    page.focus("#period_end")
    page.keyboard.press("Enter")  # submits the filter form
    used = loaded(watched)
    assert used["product"]
    # every control is reachable by Tab, in order, with a visible label
    reached = set()
    page.focus("#period_start")
    for _ in range(40):
        reached.add(
            page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
        page.keyboard.press("Tab")
    assert {"period_start", "period_end", "provider", "product", "municipality", "as_of"} <= reached
    assert {"group_by", "export-csv", "export-xlsx"} <= reached
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, select, textarea')]
             .filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"""
    )
    assert unlabelled == []


def test_signals_table_per_provider_equals_the_api(watched: Watched, demo: Demo) -> None:
    token = demo.token("municipality")
    sign_in(watched, demo, token)
    shown = table(watched, "signals")
    assert shown
    total = 0
    for provider, row in shown.items():
        answer = httpx.get(
            f"{demo.url}/v1/signals",
            params={"provider": provider, "open": "true", "on": PERIOD["period_end"]},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["signals"]
        assert row["total"] == str(len(answer))
        for rule in {s["rule"] for s in answer}:
            assert row[rule] == str(sum(1 for s in answer if s["rule"] == rule))
        total += len(answer)
    assert total > 0


def test_exports_download_the_api_figures_as_csv_and_xlsx(watched: Watched, demo: Demo) -> None:
    token = demo.token("contract_manager")
    sign_in(watched, demo, token)
    watched.page.select_option("#group_by", "provider")
    with watched.page.expect_download() as csv_download:
        watched.page.get_by_role("button", name="Download CSV").click()
    saved = csv_download.value
    assert saved.suggested_filename.endswith("-by-provider.csv")
    content = Path(saved.path()).read_bytes()
    api = httpx.get(
        f"{demo.url}/v1/kpis",
        params={**PERIOD, "group_by": "provider"},
        headers={"Authorization": f"Bearer {token}", "Accept": "text/csv"},
    )
    assert api.headers["content-type"].startswith("text/csv")
    assert content == api.content  # the API's file, byte for byte
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) >= 2
    with watched.page.expect_download() as xlsx_download:
        watched.page.get_by_role("button", name="Download XLSX").click()
    saved = xlsx_download.value
    assert saved.suggested_filename.endswith(".xlsx")
    with zipfile.ZipFile(saved.path()) as book:  # an Office Open XML workbook
        assert "xl/workbook.xml" in book.namelist()


def test_refused_token_asks_for_another(watched: Watched, demo: Demo) -> None:
    page = watched.page
    page.goto(f"{demo.url}/dashboard")
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Use this token").click()
    page.wait_for_selector("#error:has-text('refused')")
    assert page.locator("#signin").is_visible()
    assert page.evaluate("sessionStorage.getItem('caselog.token')") is None
    # the browser logs the refused request itself; nothing else may have gone wrong
    watched.errors[:] = [e for e in watched.errors if "401" not in e]


@pytest.mark.parametrize("width", [1280, 390])
def test_readable_at_desktop_and_phone_width(watched: Watched, demo: Demo, width: int) -> None:
    watched.page.set_viewport_size({"width": width, "height": 800})
    sign_in(watched, demo, demo.token("contract_manager"))
    overflow = watched.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, "the page scrolls sideways"
    for panel in CHARTS:
        box = watched.page.locator(f"#chart-{panel}").bounding_box()
        assert box is not None
        assert box["width"] <= width
        assert box["height"] >= 200
    size = watched.page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('#tiles dd')).fontSize)"
    )
    assert size >= 16


def test_a_whole_session_logs_no_console_error_and_fetches_nothing_from_outside(
    watched: Watched, demo: Demo
) -> None:
    sign_in(watched, demo, demo.token("municipality"))
    for summary in watched.page.locator("details > summary").all():
        summary.click()  # every figures table opened
    reload_with(
        watched, municipality=watched.page.locator("#municipality option").nth(1).inner_text()
    )
    reload_with(watched, as_of=f"{YEAR}-10-01")
    watched.page.get_by_role("button", name="Forget the token").click()
    assert watched.page.locator("#signin").is_visible()
    assert watched.page.evaluate("sessionStorage.getItem('caselog.token')") is None
    assert watched.outside == []
    assert watched.errors == []
