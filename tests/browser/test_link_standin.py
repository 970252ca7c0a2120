"""The emulator's Link stand-in, driven in a real browser (Chromium through Playwright).

A page written exactly as Plaid's docs write Link (https://plaid.com/docs/link/web/), with only
the script URL swapped to the emulator's, is served on a fake origin (http://app.test/) and a
person goes through Identity Verification in the framed modal.

Self-contained: it starts the built emulator itself (`target/debug/plaid-emulator --port 0`,
skipped when it is not built) and Debian's Chromium (`/usr/bin/chromium`, or $CHROMIUM).
Screenshots go to target/browser/.

    cargo build -p plaid-emulator
    .venv/bin/python -m pytest tests/browser/test_link_standin.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "target" / "debug" / "plaid-emulator"
SHOTS = ROOT / "target" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CLIENT_ID = "emulator-client-id"  # the emulator's documented defaults (tests/plaid-emulator/EMULATOR.md)
SECRET = "emulator-secret"
TEMPLATE = "idvtmp_emulator_default"
APP = "http://app.test/"
PHONE = {"width": 375, "height": 740}

LESLIE = {
    "email_address": "leslie@example.com",
    "phone_number": "+12345678909",
    "date_of_birth": "1975-01-18",
    "name": {"given_name": "Leslie", "family_name": "Knope"},
    "address": {
        "street": "123 Main St.",
        "city": "Pawnee",
        "region": "IN",
        "postal_code": "46001",
        "country": "US",
    },
}

# Plaid's Link web docs, "Create": the integration as documented, only the script URL swapped.
# The callbacks keep what they receive on `window` so that the test can read it.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Acme: verify your identity</title>
  <script src="__SCRIPT__"></script>
</head>
<body>
  <h1>Acme</h1>
  <button id="link-button" type="button">Verify your identity</button>
  <script type="text/javascript">
  window.linkEvents = [];
  const handler = Plaid.create({
    token: '__TOKEN__',
    onSuccess: (public_token, metadata) => {
      window.linkSuccess = { public_token, metadata };
    },
    onLoad: () => {
      window.linkLoaded = true;
    },
    onExit: (err, metadata) => {
      window.linkExit = { err, metadata };
    },
    onEvent: (eventName, metadata) => {
      window.linkEvents.push({ eventName, metadata });
    },
  });
  __OPEN__
  </script>
</body>
</html>
"""


# How the page opens Link: from a button, or at once after Plaid.create (as the docs' snippet).
OPEN_ON_CLICK = """document.getElementById('link-button').onclick = function () {
    handler.open();
  };"""
OPEN_AT_ONCE = "handler.open();"


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def emulator():
    if not BINARY.exists():
        pytest.skip(f"emulator not built: {BINARY} (cargo build -p plaid-emulator)")
    proc = subprocess.Popen(
        [str(BINARY), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.split(" ", 2)[2]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        # The page's origin (app.test, answered by page.route) counts as public and not secure,
        # the emulator is on loopback: Chrome's Local Network Access would block the script.
        # A real app in development (http://localhost:…) is on loopback too and needs no flag.
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--disable-features=LocalNetworkAccessChecks"]
        )
        yield b
        b.close()


@pytest.fixture
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


# ---------------------------------------------------------------- helpers

def call(url: str, path: str, body: dict | None = None, method: str = "POST") -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("PLAID-CLIENT-ID", CLIENT_ID)
    req.add_header("PLAID-SECRET", SECRET)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start_session(url: str, user: dict | None = None) -> tuple[str, str, str]:
    """A session created as our backend creates it, and a Link token for the same user."""
    cuid = f"user-{uuid.uuid4().hex[:12]}"
    body = {
        "client_user_id": cuid,
        "template_id": TEMPLATE,
        "gave_consent": False,
        "is_shareable": False,
        "is_idempotent": True,
    }
    if user:
        body["user"] = user
    status, session = call(url, "/identity_verification/create", body)
    assert status == 200, session
    status, tok = call(
        url,
        "/link/token/create",
        {
            "client_name": "Acme",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": cuid},
            "products": ["identity_verification"],
            "identity_verification": {"template_id": TEMPLATE},
        },
    )
    assert status == 200, tok
    return cuid, session["id"], tok["link_token"]


def open_page(browser, emulator: str, token: str, viewport=PHONE, opener=OPEN_ON_CLICK):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    html = (
        PAGE.replace("__SCRIPT__", emulator + "/link/v2/stable/link-initialize.js")
        .replace("__TOKEN__", token)
        .replace("__OPEN__", opener)
    )
    page.route(
        APP + "**",
        lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html),
    )
    page.goto(APP)
    page.wait_for_function("() => window.linkLoaded === true")
    return context, page


def link_frame(page):
    return page.frame_locator('iframe[title="Plaid Link"]')


def event_names(page) -> list[str]:
    return page.evaluate("() => window.linkEvents.map(e => e.eventName)")


def views(events: list[dict], name: str) -> list[str]:
    """The `view_name`s of one kind of event, in order."""
    return [e["metadata"]["view_name"] for e in events if e["eventName"] == name]


def get_session(url: str, session_id: str) -> tuple[int, dict]:
    return call(url, "/identity_verification/get", {"identity_verification_id": session_id})


def webhooks_for(url: str, session_id: str) -> list[str]:
    status, outbox = call(url, "/emulator/webhooks", method="GET")
    assert status == 200
    return [w["webhook_code"] for w in outbox if w["identity_verification_id"] == session_id]


# ---------------------------------------------------------------- tests

def test_sandbox_identity_finishes_with_on_success(browser, emulator, shots):
    _, session_id, token = start_session(emulator, LESLIE)
    context, page = open_page(browser, emulator, token)
    try:
        page.get_by_role("button", name="Verify your identity").click()
        link = link_frame(page)

        expect(link.get_by_role("heading", name="Verify your identity")).to_be_visible()
        page.screenshot(path=str(shots / "link-1-terms-375.png"))
        link.get_by_role("button", name="I agree").click()

        expect(link.get_by_role("heading", name="Verify your phone number")).to_be_visible()
        expect(link.get_by_label("Phone number")).to_have_value("+12345678909")
        link.get_by_label("Verification code").fill("12345")
        link.get_by_role("button", name="Verify").click()
        expect(link.get_by_role("alert")).to_contain_text("incorrect")
        page.screenshot(path=str(shots / "link-2-sms-wrong-code-375.png"))
        link.get_by_label("Verification code").fill("11111")
        link.get_by_role("button", name="Verify").click()

        expect(link.get_by_role("heading", name="Enter your details")).to_be_visible()
        # Prefilled from the session's `user` data.
        expect(link.get_by_label("First name")).to_have_value("Leslie")
        expect(link.get_by_label("Last name")).to_have_value("Knope")
        expect(link.get_by_label("Date of birth")).to_have_value("1975-01-18")
        expect(link.get_by_label("Street address")).to_have_value("123 Main St.")
        page.screenshot(path=str(shots / "link-3-identity-375.png"))
        link.get_by_role("button", name="Continue").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "link-3b-identity-bottom-375.png"))
        link.get_by_role("button", name="Continue").click()

        expect(link.get_by_role("heading", name="Verify your ID")).to_be_visible()
        page.screenshot(path=str(shots / "link-4-document-375.png"))
        link.get_by_role("button", name="Take a photo of my ID (simulated)").click()

        expect(link.get_by_role("heading", name="Take a selfie")).to_be_visible()
        link.get_by_role("button", name="Take a selfie (simulated)").click()

        expect(link.get_by_role("heading", name="You’re verified")).to_be_visible()
        page.screenshot(path=str(shots / "link-5-verified-375.png"))
        link.get_by_role("button", name="Continue").click()

        page.wait_for_function("() => window.linkSuccess !== undefined")
        result = page.evaluate("() => window.linkSuccess")
        assert result["public_token"] is None
        assert result["metadata"]["link_session_id"] == session_id
        expect(page.locator("[data-plaid-link-emulator]")).to_be_hidden()
        assert page.evaluate("() => window.linkExit") is None

        names = event_names(page)
        for expected in [
            "OPEN",
            "IDENTITY_VERIFICATION_RESUME_SESSION",
            "IDENTITY_VERIFICATION_START_STEP",
            "IDENTITY_VERIFICATION_PASS_STEP",
            "IDENTITY_VERIFICATION_PASS_SESSION",
            "IDENTITY_VERIFICATION_CLOSE_UI",
            "HANDOFF",
        ]:
            assert expected in names, names
        assert names.index("IDENTITY_VERIFICATION_PASS_SESSION") < names.index("HANDOFF")
        events = page.evaluate("() => window.linkEvents")
        passed = views(events, "IDENTITY_VERIFICATION_PASS_STEP")
        assert passed[:3] == ["ACCEPT_TOS", "VERIFY_SMS", "KYC_CHECK"], passed
        for e in events:
            assert e["metadata"]["link_session_id"] == session_id
            assert e["metadata"]["timestamp"] and e["metadata"]["request_id"]

        status, session = get_session(emulator, session_id)
        assert status == 200
        assert session["status"] == "success", session["steps"]
        codes = webhooks_for(emulator, session_id)
        assert codes.count("STEP_UPDATED") == 7, codes
        assert codes[-1] == "STATUS_UPDATED", codes
    finally:
        context.close()


def test_other_data_fails_kyc_and_still_ends_in_on_success(browser, emulator, shots):
    _, session_id, token = start_session(emulator, {"phone_number": "+12345678909"})
    context, page = open_page(
        browser, emulator, token, viewport={"width": 1280, "height": 800}, opener=OPEN_AT_ONCE
    )
    try:
        link = link_frame(page)
        link.get_by_role("button", name="I agree").click()
        link.get_by_label("Verification code").fill("11111")
        link.get_by_role("button", name="Verify").click()

        expect(link.get_by_role("heading", name="Enter your details")).to_be_visible()
        link.get_by_label("First name").fill("Ann")
        link.get_by_label("Last name").fill("Perkins")
        link.get_by_label("Date of birth").fill("1980-05-01")
        link.get_by_label("Street address").fill("1 Elm St.")
        link.get_by_label("City").fill("Eagleton")
        link.get_by_label("State").fill("IN")
        link.get_by_label("ZIP code").fill("46002")
        page.screenshot(path=str(shots / "link-6-identity-typed-desktop.png"))
        link.get_by_role("button", name="Continue").click()

        # Data source fails; the document check (Leslie's document) decides, and fails too.
        expect(link.get_by_role("heading", name="Verify your ID")).to_be_visible()
        link.get_by_role("button", name="Take a photo of my ID (simulated)").click()
        expect(link.get_by_role("heading", name="We couldn’t verify your identity")).to_be_visible()
        page.screenshot(path=str(shots / "link-7-failed-desktop.png"))
        link.get_by_role("button", name="Continue").click()

        page.wait_for_function("() => window.linkSuccess !== undefined")
        result = page.evaluate("() => window.linkSuccess")
        assert result["metadata"]["link_session_id"] == session_id
        events = page.evaluate("() => window.linkEvents")
        failed = views(events, "IDENTITY_VERIFICATION_FAIL_STEP")
        assert failed == ["KYC_CHECK", "DOCUMENTARY_VERIFICATION"], failed
        assert "IDENTITY_VERIFICATION_FAIL_SESSION" in [e["eventName"] for e in events]

        status, session = get_session(emulator, session_id)
        assert session["status"] == "failed"
        assert session["steps"]["kyc_check"] == "failed"
        assert webhooks_for(emulator, session_id)[-1] == "STATUS_UPDATED"

        # An ended session is not served again: reopening shows that it has ended.
        page.evaluate("() => handler.open()")
        expect(link.get_by_role("heading", name="This verification has already ended")).to_be_visible()
        link.get_by_role("button", name="Close").click()
        page.wait_for_function("() => window.linkExit !== undefined")
        assert page.evaluate("() => window.linkExit.err") is None
    finally:
        context.close()


def test_closing_midway_gives_on_exit_and_reopening_resumes(browser, emulator, shots):
    _, session_id, token = start_session(emulator, LESLIE)
    context, page = open_page(browser, emulator, token)
    try:
        page.get_by_role("button", name="Verify your identity").click()
        link = link_frame(page)
        link.get_by_role("button", name="I agree").click()
        expect(link.get_by_role("heading", name="Verify your phone number")).to_be_visible()
        link.get_by_role("button", name="Exit").click()

        page.wait_for_function("() => window.linkExit !== undefined")
        exit_ = page.evaluate("() => window.linkExit")
        assert exit_["err"] is None
        assert exit_["metadata"]["link_session_id"] == session_id
        assert set(exit_["metadata"]) >= {"status", "link_session_id", "request_id", "institution"}
        expect(page.locator("[data-plaid-link-emulator]")).to_be_hidden()
        assert "EXIT" in event_names(page)
        status, session = get_session(emulator, session_id)
        assert session["status"] == "active"
        assert session["steps"]["verify_sms"] == "active"

        # Opening again resumes where the person left; handler.exit() closes it too.
        page.evaluate("() => { window.linkExit = undefined; window.linkEvents = []; }")
        page.get_by_role("button", name="Verify your identity").click()
        expect(link.get_by_role("heading", name="Verify your phone number")).to_be_visible()
        assert "IDENTITY_VERIFICATION_RESUME_UI" in event_names(page)
        page.evaluate("() => handler.exit()")
        page.wait_for_function("() => window.linkExit !== undefined")
        assert page.evaluate("() => window.linkExit.metadata.link_session_id") == session_id
        assert page.evaluate("() => window.linkSuccess") is None

        # destroy() removes the overlay and its iframe.
        page.evaluate("() => handler.destroy()")
        expect(page.locator("[data-plaid-link-emulator]")).to_have_count(0)
        expect(page.locator('iframe[title="Plaid Link"]')).to_have_count(0)
    finally:
        context.close()


def test_invalid_token_exits_with_invalid_link_token(browser, emulator, shots):
    context, page = open_page(
        browser, emulator, "link-sandbox-00000000-0000-4000-8000-000000000000", opener=OPEN_AT_ONCE
    )
    try:
        page.wait_for_function("() => window.linkExit !== undefined")
        exit_ = page.evaluate("() => window.linkExit")
        assert exit_["err"] == {
            "error_type": "INVALID_INPUT",
            "error_code": "INVALID_LINK_TOKEN",
            "error_message": "invalid link_token provided",
            "display_message": None,
        }
        assert exit_["metadata"]["link_session_id"] is None
        expect(page.locator("[data-plaid-link-emulator]")).to_be_hidden()
        exits = [e for e in page.evaluate("() => window.linkEvents") if e["eventName"] == "EXIT"]
        assert exits and exits[0]["metadata"]["error_code"] == "INVALID_LINK_TOKEN"
        page.screenshot(path=str(shots / "link-8-invalid-token-375.png"))
    finally:
        context.close()


def test_token_invalidated_midway_exits_with_invalid_link_token(browser, emulator, shots):
    _, session_id, token = start_session(emulator, LESLIE)
    context, page = open_page(browser, emulator, token)
    try:
        page.get_by_role("button", name="Verify your identity").click()
        link = link_frame(page)
        expect(link.get_by_role("heading", name="Verify your identity")).to_be_visible()
        # Plaid invalidates a token when the person takes too long; the next step then fails.
        status, _ = call(emulator, f"/emulator/link_tokens/{token}/invalidate")
        assert status == 200
        link.get_by_role("button", name="I agree").click()
        page.wait_for_function("() => window.linkExit !== undefined")
        exit_ = page.evaluate("() => window.linkExit")
        assert exit_["err"]["error_code"] == "INVALID_LINK_TOKEN"
        assert exit_["metadata"]["link_session_id"] == session_id
        expect(page.locator("[data-plaid-link-emulator]")).to_be_hidden()
        status, session = get_session(emulator, session_id)
        assert session["steps"]["accept_tos"] == "active"
    finally:
        context.close()


# A page that frames the flow itself (not through link-initialize.js) and records every message
# it receives, with its origin.
FRAMER = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>framer</title></head>
<body>
<script>
  window.heard = [];
  window.addEventListener('message', function (e) {
    window.heard.push({ origin: e.origin, data: e.data });
  });
</script>
<iframe title="flow" src="__SRC__" style="width:100%;height:560px;border:0"></iframe>
</body></html>
"""


def frame_flow(browser, src: str, page_origin: str = "http://other.test/"):
    """A page on `page_origin` framing `src`; returns what it heard once the frame loaded."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    html = FRAMER.replace("__SRC__", src)
    page.route(
        page_origin + "**",
        lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html),
    )
    page.goto(page_origin)
    frame = page.frame_locator('iframe[title="flow"]')
    return context, page, frame


def test_the_flow_posts_only_to_the_embedding_pages_origin_never_to_any(browser, emulator, shots):
    """Link's messages carry the session id and, on success, what the app acts on: they go to
    the origin the SDK named (the browser drops them if the parent is someone else), and with
    no usable origin (missing, `null`, not http(s)) the flow says so and posts nothing, rather
    than to `*`, where any page framing it would hear them."""
    _, _, token = start_session(emulator, LESLIE)
    flow = emulator + "/link/flow?token=" + token
    # Named correctly: the page hears `ready` from the emulator's origin (the positive control).
    context, page, _ = frame_flow(browser, flow + "&origin=http%3A%2F%2Fother.test")
    try:
        page.wait_for_function("() => window.heard.length > 0")
        heard = page.evaluate("() => window.heard")
        assert heard[0]["origin"] == emulator and heard[0]["data"]["type"] == "ready", heard
    finally:
        context.close()
    for origin in ["", "&origin=null", "&origin=javascript%3Aalert(1)", "&origin=%2A"]:
        context, page, frame = frame_flow(browser, flow + origin)
        try:
            expect(frame.get_by_text("without the origin of the page")).to_be_visible()
            # The frame has run its script (the text above is drawn by it): anything it posted
            # has been delivered by now.
            page.wait_for_timeout(200)
            assert page.evaluate("() => window.heard") == [], origin
            if origin == "":
                page.screenshot(path=str(shots / "link-9-no-origin-375.png"))
        finally:
            context.close()
