"""The web dashboard in real Chromium (Debian's package, driven by Playwright): login,
live session list, live terminal, actions, and the security model."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import SPENDING_RULES

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
Runner = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("npm") is None,
                                reason="Chromium (apt: chromium) is not installed")


@pytest.fixture
def web(sm: Runner, sm_json: Callable[..., Any]) -> dict[str, str]:
    """A daemon with the dashboard on a free loopback port; ``login_url`` and ``url``."""
    sm("daemon", "start", env={"SM_WEB_PORT": "0"})
    data: dict[str, str] = sm_json("web")
    return data


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile (a persistent context on a new --user-data-dir)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-", dir=tmp_path), executable_path=CHROMIUM,
            headless=True, args=FLAGS, viewport={"width": 1280, "height": 800})
        try:
            yield context
        finally:
            context.close()


def _login(browser: Any, web: dict[str, str]) -> Any:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(web["login_url"])
    page.wait_for_selector("#conn.on")
    page.errors = errors
    return page


def _row_state(page: Any, name: str) -> str | None:
    value: str | None = page.evaluate(
        """name => { const row = [...document.querySelectorAll('tr.session')]
              .find(r => r.cells[0].textContent.includes(name));
              return row ? row.dataset.state : null; }""", name)
    return value


def _term_text(page: Any) -> str:
    text: str = page.evaluate(
        """() => { const t = document.querySelector('#term').term; if (!t) return '';
              const b = t.buffer.active; let out = [];
              for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
              return out.join('\\n'); }""")
    return text


def test_login_and_the_session_list_follows_states_live(
    web: dict[str, str], browser: Any, sm: Runner, spawn: Callable[..., dict[str, Any]],
    script_file: Callable[..., Path], wait_until: Callable[..., Any], tmp_path: Path,
) -> None:
    page = _login(browser, web)
    assert urlsplit(page.url).path == "/"
    script = script_file({"rules": [{"match": "work", "actions": [{"sleep": 30},
                                                                  {"say": "worked"}]}]})
    spawn("--name", "live1", script=script, idle=False)
    wait_until(lambda: _row_state(page, "live1") == "idle", message="live1 idle in the page")
    sm("send", "live1", "work")
    wait_until(lambda: _row_state(page, "live1") == "running", timeout=5,
               message="live1 running in the page")
    wait_until(lambda: _row_state(page, "live1") == "idle", timeout=10,
               message="live1 idle again in the page")
    page.screenshot(path=str(tmp_path / "sessions.png"), full_page=True)
    for name in ("messages", "events", "locks", "worktrees"):
        page.goto(web["url"] + f"/#/{name}")
        page.wait_for_selector("main table, main .feed, main p")
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    assert not page.errors




def _row_spent(page: Any, name: str) -> str | None:
    value: str | None = page.evaluate(
        """name => { const row = [...document.querySelectorAll('tr.session')]
              .find(r => r.cells[0].textContent.includes(name));
              return row ? row.querySelector('td.spent').textContent : null; }""", name)
    return value


def test_the_session_list_and_page_show_cost_and_context_live(
    web: dict[str, str], browser: Any, sm: Runner, spawn: Callable[..., dict[str, Any]],
    script_file: Callable[..., Path], wait_until: Callable[..., Any], tmp_path: Path,
) -> None:
    script = script_file(SPENDING_RULES)
    a = spawn("--name", "spend1", script=script)
    page = _login(browser, web)
    wait_until(lambda: _row_spent(page, "spend1") == "", message="spend1 listed, nothing spent")
    sm("send", "spend1", "first")
    wait_until(lambda: _row_spent(page, "spend1") == "$0.61 · ctx 63%", timeout=10,
               message="the first turn's cost and context in the list")
    page.screenshot(path=str(tmp_path / "sessions-cost.png"), full_page=True)
    page.goto(web["url"] + f"/#/session/{a['id']}")
    page.wait_for_selector("#session-spent")
    assert page.locator("#session-spent").inner_text() == "$0.61 · ctx 63%"
    sm("send", "spend1", "second")
    page.wait_for_function("() => document.querySelector('#session-spent').textContent"
                           " === '$0.69 · ctx 75%'", timeout=10000)
    assert not page.errors


def test_the_terminal_shows_what_the_agent_prints_within_a_second(
    web: dict[str, str], browser: Any, sm: Runner, spawn: Callable[..., dict[str, Any]],
    tmux: Runner, tmp_path: Path,
) -> None:
    a = spawn("--name", "term1")
    page = _login(browser, web)
    page.goto(web["url"] + f"/#/session/{a['id']}")
    page.wait_for_function("() => document.querySelector('#term')?.term?.buffer.active.length")
    page.wait_for_function("() => document.querySelector('#term')?.innerText.includes('❯')")
    marker = f"marker-{int(time.time() * 1000)}"
    page.evaluate("""marker => { window.seenAt = null;
        const t = document.querySelector('#term').term;
        const iv = setInterval(() => { const b = t.buffer.active;
          for (let i = 0; i < b.length; i++)
          if (b.getLine(i).translateToString(true).includes(marker)) {
            window.seenAt = Date.now(); clearInterval(iv); return; } }, 10); }""", marker)
    sm("send", "term1", marker)
    printed = None
    deadline = time.monotonic() + 10
    while printed is None and time.monotonic() < deadline:
        if marker in tmux("capture-pane", "-p", "-t", f"=sm-{a['id']}:").stdout:
            printed = time.time() * 1000
        else:
            time.sleep(0.01)
    assert printed is not None, "the agent never printed the marker"
    page.wait_for_function("() => window.seenAt !== null", timeout=5000)
    seen = page.evaluate("() => window.seenAt")
    lag = seen - printed
    print(f"\nterminal lag: {lag:.0f} ms")
    assert lag < 1000, f"the page showed the agent's output {lag:.0f} ms after it was printed"
    page.screenshot(path=str(tmp_path / "session.png"), full_page=True)
    assert page.locator("#term-mode").inner_text() == "read-only"


def test_send_from_the_page_reaches_the_agent_with_a_receipt(
    web: dict[str, str], browser: Any, sm_json: Callable[..., Any],
    spawn: Callable[..., dict[str, Any]], wait_until: Callable[..., Any],
    session_env: Callable[[str], dict[str, str | None]],
) -> None:
    a = spawn("--name", "send1")
    page = _login(browser, web)
    page.goto(web["url"] + f"/#/session/{a['id']}")
    page.fill("#send-text", "hello from the page")
    page.select_option("#send-mode", "important")
    page.click("#send")
    page.wait_for_function(
        "() => /delivered \\(receipt \\d+\\)/"
        ".test(document.querySelector('#send-result').textContent)",
        timeout=10000)
    msg = sm_json("messages", "--to", "send1")[-1]
    assert msg["state"] == "delivered" and msg["from"] == "web" and msg["mode"] == "important"
    wait_until(lambda: "hello from the page" in (sm_json("status", "send1")["last_message"] or ""))
    # the agent's own token never reaches the browser
    token = session_env(a["id"])["SM_SESSION_TOKEN"]
    assert token
    seen = page.evaluate("""async id => JSON.stringify([
        await (await fetch('/api/sessions/' + id)).json(),
        await (await fetch('/api/overview')).json(),
        await (await fetch('/api/events?limit=500')).json()])""", a["id"])
    assert token not in seen and token not in page.content()


def test_approve_answers_the_agents_permission_prompt(
    web: dict[str, str], browser: Any, sm: Runner, spawn: Callable[..., dict[str, Any]],
    script_file: Callable[..., Path], wait_state: Callable[..., dict[str, Any]],
) -> None:
    script = script_file({"rules": [{"match": "deploy", "actions": [
        {"permission": "Bash"}, {"say": "deployed after approval"}]}]})
    a = spawn("--name", "perm1", script=script)
    page = _login(browser, web)
    page.goto(web["url"] + f"/#/session/{a['id']}")
    page.wait_for_selector("#session-state")
    sm("send", "perm1", "deploy")
    page.wait_for_selector("#approve", state="visible", timeout=10000)
    page.click("#approve")
    rec = wait_state("perm1", "idle", where=lambda r: "deployed" in (r["last_message"] or ""))
    assert rec["last_message"] == "deployed after approval"


def test_a_phone_sized_screen_shows_the_list_and_the_terminal(
    web: dict[str, str], browser: Any, spawn: Callable[..., dict[str, Any]], tmp_path: Path,
) -> None:
    a = spawn("--name", "phone1")
    page = _login(browser, web)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(web["url"] + "/#/sessions")
    page.wait_for_selector("tr.session")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "phone-sessions.png"), full_page=True)
    page.goto(web["url"] + f"/#/session/{a['id']}")
    page.wait_for_function("() => document.querySelector('#term')?.innerText.includes('❯')")
    box = page.locator("#term").bounding_box()
    assert box is not None and box["width"] <= 390 and box["height"] > 150
    page.screenshot(path=str(tmp_path / "phone-session.png"), full_page=True)


# -- security without a browser: raw HTTP and WebSocket ------------------------------------

def _get(url: str, path: str, headers: dict[str, str] | None = None,
         method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _cookie(web: dict[str, str]) -> str:
    status, headers, _ = _get(web["url"], urlsplit(web["login_url"]).path + "?"
                              + urlsplit(web["login_url"]).query)
    assert status == 303
    return headers["set-cookie"].split(";", 1)[0]


def test_without_the_cookie_nothing_is_served(web: dict[str, str], sm_json: Callable[..., Any],
                                             sm: Runner) -> None:
    for path in ("/", "/static/app.js", "/vendor/xterm.js", "/api/me", "/api/overview",
                 "/api/messages", "/api/events", "/api/locks", "/api/worktrees", "/docs",
                 "/openapi.json", "/api/sessions/x"):
        status, _, body = _get(web["url"], path)
        assert status == 401, (path, status, body[:200])
    status, _, _ = _get(web["url"], "/api/spawn", method="POST", body=b"{}",
                        headers={"Content-Type": "application/json"})
    assert status == 401
    # a login token works once
    cookie = _cookie(web)
    status, _, _ = _get(web["url"], urlsplit(web["login_url"]).path + "?"
                        + urlsplit(web["login_url"]).query)
    assert status == 401
    assert _get(web["url"], "/api/me", {"Cookie": cookie})[0] == 200
    # a bearer token is the other way in
    token = sm_json("web", "--token")["token"]
    assert _get(web["url"], "/api/overview", {"Authorization": f"Bearer {token}"})[0] == 200
    assert _get(web["url"], "/api/overview", {"Authorization": "Bearer x.y.z"})[0] == 401


def test_host_origin_and_csrf_are_checked(web: dict[str, str]) -> None:
    cookie = _cookie(web)
    host = urlsplit(web["url"]).netloc
    assert _get(web["url"], "/api/me", {"Cookie": cookie, "Host": "evil.example"})[0] == 403
    port = host.split(":")[1]
    assert _get(web["url"], "/api/me", {"Cookie": cookie, "Host": f"localhost:{port}"})[0] == 200
    csrf = json.loads(_get(web["url"], "/api/me", {"Cookie": cookie})[2])["csrf"]
    send = {"Cookie": cookie, "Content-Type": "application/json"}
    body = json.dumps({"provider": "nope"}).encode()
    assert _get(web["url"], "/api/spawn", send, "POST", body)[0] == 403  # no CSRF token
    forged = {**send, "X-CSRF-Token": "0" * 40}
    assert _get(web["url"], "/api/spawn", forged, "POST", body)[0] == 403
    evil = {**send, "X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert _get(web["url"], "/api/spawn", evil, "POST", body)[0] == 403
    ok = {**send, "X-CSRF-Token": csrf, "Origin": web["url"]}
    status, _, answer = _get(web["url"], "/api/spawn", ok, "POST", body)
    # past the guard: the spawn itself refuses the unknown provider
    assert status not in (401, 403) and "nope" in json.loads(answer)["error"]["message"]


def test_websockets_need_the_cookie_the_csrf_token_and_the_same_origin(
    web: dict[str, str],
) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ws_url = web["url"].replace("http://", "ws://")
    cookie = _cookie(web)
    csrf = json.loads(_get(web["url"], "/api/me", {"Cookie": cookie})[2])["csrf"]

    def status_of(path: str, headers: dict[str, str]) -> int:
        try:
            with connect(ws_url + path, additional_headers=headers, open_timeout=5) as ws:
                json.loads(ws.recv(timeout=5))
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    good = f"/ws/events?snapshot=1&csrf={csrf}"
    assert status_of(good, {"Origin": web["url"]}) == 401  # no cookie
    assert status_of(good, {"Cookie": cookie, "Origin": "http://evil.example"}) == 403
    assert status_of("/ws/events?snapshot=1", {"Cookie": cookie, "Origin": web["url"]}) == 403
    assert status_of("/ws/term/x?csrf=" + csrf, {"Origin": web["url"]}) == 401
    assert status_of(good, {"Cookie": cookie, "Origin": web["url"]}) == 101


def test_the_api_docs_page_loads_without_internet(web: dict[str, str], browser: Any) -> None:
    page = _login(browser, web)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(web["url"] + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    assert all(u.startswith(web["url"]) for u in requests), requests


def test_take_input_makes_the_terminal_type_into_the_agent(
    web: dict[str, str], browser: Any, spawn: Callable[..., dict[str, Any]],
    wait_state: Callable[..., dict[str, Any]], tmux: Runner, wait_until: Callable[..., Any],
) -> None:
    a = spawn("--name", "typist")
    page = _login(browser, web)
    page.goto(web["url"] + f"/#/session/{a['id']}")
    page.wait_for_function("() => document.querySelector('#term')?.innerText.includes('❯')")
    page.click("#term")
    page.keyboard.type("ignored")  # read-only: nothing reaches the agent
    page.click("#take-input")
    page.wait_for_function("() => !document.querySelector('#take-input').offsetParent")
    page.wait_for_timeout(300)  # the writable client attaches
    page.click("#term")
    page.keyboard.type("typed in the page")
    page.keyboard.press("Enter")
    rec = wait_state("typist", "idle",
                     where=lambda r: "typed in the page" in (r["last_message"] or ""))
    assert "ignored" not in rec["last_message"]
    # the agent's window kept its size while the browser's terminal is smaller
    size = tmux("display-message", "-p", "-t", f"=sm-{a['id']}:", "#{window_width}").stdout
    assert size.strip() == "200"
    page.close()  # the last viewer leaves: the window follows its clients again

    def unpinned() -> bool:
        shown = tmux("show-options", "-w", "-t", f"=sm-{a['id']}:").stdout
        return "window-size" not in shown

    wait_until(unpinned, message="the window-size pin to be dropped")
