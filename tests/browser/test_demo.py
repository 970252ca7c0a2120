"""The demo app (tests/demo/) on the local stack, driven in a headless Chromium.

`tests/scripts/browser.sh` (part of `make test`) brings up the stack as `make run` does and sets
DEMO_URL (the one origin: the app and the API), EMULATOR_URL, TABLE_NAME, AWS_ENDPOINT_URL and
IDV_LOCAL (the `idv-local` binary); without DEMO_URL these tests are skipped. The browser is
$CHROME_PATH, else /usr/bin/chromium. Every case waits on what the page shows (never a fixed
sleep) and keeps a screenshot of its end state in target/browser/.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"
DEMO = os.environ.get("DEMO_URL")
CHROME = os.environ.get("CHROME_PATH") or os.environ.get("CHROMIUM") or "/usr/bin/chromium"
PHONE = {"width": 375, "height": 812}
RESULT_TIMEOUT = 45_000  # ms: webhooks reach the table through cargo lambda watch

pytestmark = pytest.mark.skipif(not DEMO, reason="DEMO_URL not set: run tests/scripts/browser.sh")

# Plaid Sandbox's test identity (the emulator follows Sandbox's rules).
LESLIE = {
    "First name": "Leslie",
    "Last name": "Knope",
    "Date of birth": "1975-01-18",
    "Street address": "123 Main St.",
    "City": "Pawnee",
    "State": "IN",
    "ZIP code": "46001",
}
OTHER = {
    "First name": "Ann",
    "Last name": "Perkins",
    "Date of birth": "1980-05-01",
    "Street address": "1 Elm St.",
    "City": "Eagleton",
    "State": "IN",
    "ZIP code": "46002",
}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROME)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(DEMO + "/")
    expect(page.get_by_text("the Plaid emulator’s stand-in")).to_be_visible()
    yield page
    context.close()
    assert not errors, errors


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"demo-{name}.png"), full_page=full_page)


def api(method: str, path: str, user: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(DEMO + path, data=data, method=method)
    req.add_header("x-local-user", user)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def as_user(page, user: str) -> None:
    page.get_by_label("Local user").select_option(user)


def link(page):
    return page.frame_locator('iframe[title="Plaid Link"]')


def through_sms(page) -> None:
    from playwright.sync_api import expect

    frame = link(page)
    # The page asked for consent and sent gave_consent: Link skips Plaid's terms step.
    expect(frame.get_by_role("heading", name="Verify your phone number")).to_be_visible()
    frame.get_by_label("Phone number").fill("+12345678909")
    frame.get_by_label("Verification code").fill("11111")
    frame.get_by_role("button", name="Verify").click()


def identity(page, data: dict) -> None:
    from playwright.sync_api import expect

    frame = link(page)
    expect(frame.get_by_role("heading", name="Enter your details")).to_be_visible()
    for label, value in data.items():
        frame.get_by_label(label, exact=True).fill(value)
    frame.get_by_role("button", name="Continue").click()


def session_id(page) -> str:
    from playwright.sync_api import expect

    expect(page.locator("#session-id")).to_have_text(__import__("re").compile(r"^idv_"))
    return page.locator("#session-id").inner_text()


def emulator(path: str):
    """The emulator's control API (GET): its outbox and its request log."""
    with urllib.request.urlopen(os.environ["EMULATOR_URL"] + path, timeout=30) as r:
        return json.loads(r.read())


def plaid_reads(session: str) -> int:
    """`/identity_verification/get` calls Plaid answered for `session`: our webhook function
    makes one per delivery it accepts; a refresh of the session would be one more."""
    log = emulator("/emulator/requests?endpoint=/identity_verification/get")
    return sum(1 for r in log if r["identity_verification_id"] == session and r["status"] == 200)


def webhooks_accepted(session: str) -> list[str]:
    """The codes of the signed webhooks fired for `session` that our API answered 200."""
    return [
        w["webhook_code"]
        for w in emulator("/emulator/webhooks")
        if w["identity_verification_id"] == session
        and any(a["status"] == 200 for a in w["attempts"])
    ]


def test_alice_is_verified_with_the_sandbox_identity(page):
    from playwright.sync_api import expect

    # Every read of the session the page makes, as sent.
    reads: list[str] = []
    page.on(
        "request",
        lambda r: reads.append(r.url)
        if r.method == "GET" and "/sessions/idv_" in r.url
        else None,
    )
    as_user(page, "alice")
    page.get_by_role("button", name="Start verification").click()
    expect(link(page).get_by_role("heading", name="Verify your phone number")).to_be_visible()
    shot(page, "0-alice-link-open", full_page=False)  # Link is a fixed overlay
    through_sms(page)
    identity(page, LESLIE)
    frame = link(page)
    expect(frame.get_by_role("heading", name="Verify your ID")).to_be_visible()
    frame.get_by_role("button", name="Take a photo of my ID (simulated)").click()
    expect(frame.get_by_role("heading", name="Take a selfie")).to_be_visible()
    frame.get_by_role("button", name="Take a selfie (simulated)").click()
    expect(frame.get_by_role("heading", name="You’re verified")).to_be_visible()
    frame.get_by_role("button", name="Continue").click()

    # The outcome as our API reports it, after the webhooks reached the table.
    expect(page.locator("#status")).to_have_text("success", timeout=RESULT_TIMEOUT)
    expect(page.locator("#message")).to_contain_text("Verified")
    # Consent was given on the page, so Plaid's terms step was skipped.
    expect(page.locator('#steps li[data-step="accept_tos"] .badge')).to_have_text("skipped")
    for step in ["verify_sms", "kyc_check", "documentary_verification", "selfie_check"]:
        expect(page.locator(f'#steps li[data-step="{step}"] .badge')).to_have_text("success")
    expect(page.get_by_role("button", name="Try again")).to_be_hidden()
    page.get_by_role("button", name="Show my sessions").click()
    expect(page.locator("#sessions li")).to_have_count(1)
    expect(page.locator("#sessions li").first).to_contain_text("success")
    shot(page, "1-alice-success")
    status, body = api("GET", "/sessions/" + session_id(page), "alice")
    assert (status, body["status"], body["final"]) == (200, "success", True)

    # How `success` reached the page: through Plaid's signed webhook, not a re-read of Plaid.
    # The page never asked for one (no `?refresh=true`), a plain read never makes one here
    # (browser.sh sets SESSION_FRESHNESS_SECONDS far beyond the test), and every Plaid read of
    # the session is one our webhook function made for a delivery it accepted: a refresh
    # would be a read more than the webhooks account for.
    sid = session_id(page)
    assert reads and not [u for u in reads if "refresh=" in u], reads
    hooks = webhooks_accepted(sid)
    assert "STATUS_UPDATED" in hooks, hooks
    assert 1 <= plaid_reads(sid) <= len(hooks), (plaid_reads(sid), hooks)


def test_bob_fails_kyc_and_tries_again_as_a_linked_retry(page):
    from playwright.sync_api import expect

    as_user(page, "bob")
    page.get_by_role("button", name="Start verification").click()
    through_sms(page)
    identity(page, OTHER)
    frame = link(page)
    expect(frame.get_by_role("heading", name="Verify your ID")).to_be_visible()
    frame.get_by_role("button", name="Take a photo of my ID (simulated)").click()
    expect(frame.get_by_role("heading", name="We couldn’t verify your identity")).to_be_visible()
    frame.get_by_role("button", name="Continue").click()

    expect(page.locator("#status")).to_have_text("failed", timeout=RESULT_TIMEOUT)
    expect(page.locator('#steps li[data-step="kyc_check"] .badge')).to_have_text("failed")
    first = session_id(page)
    shot(page, "2-bob-failed")

    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#message")).to_contain_text("retrying " + first)
    expect(page.locator("#previous").get_by_role("link", name=first)).to_be_visible()
    expect(page.locator("#status")).to_have_text("active")
    second = session_id(page)
    assert second != first
    # Link opened on the new attempt, past the phone step she already passed (our API retries a
    # failed data check with Plaid's `incomplete` strategy); the person leaves it for now.
    frame = link(page)
    expect(frame.get_by_role("heading", name="Enter your details")).to_be_visible()
    frame.get_by_role("button", name="Exit").click()
    expect(page.locator("#message")).to_contain_text("You closed Link before finishing")
    shot(page, "3-bob-retry")
    status, body = api("GET", "/sessions/" + second, "bob")
    assert (status, body["previous_attempt_id"]) == (200, first)
    # The previous attempt is one click away, and shows its failure.
    page.locator("#previous").get_by_role("link", name=first).click()
    expect(page.locator("#status")).to_have_text("failed")


def test_closing_link_midway_says_so_and_the_session_resumes(page):
    from playwright.sync_api import expect

    as_user(page, "carol")
    page.get_by_role("button", name="Start verification").click()
    expect(page.locator("#message")).to_contain_text("(201)")
    first = session_id(page)
    frame = link(page)
    expect(frame.get_by_role("heading", name="Verify your phone number")).to_be_visible()
    frame.get_by_role("button", name="Exit").click()

    expect(page.locator("#message")).to_contain_text("You closed Link before finishing")
    expect(page.locator("#message")).to_contain_text("resume")
    expect(page.get_by_role("button", name="Continue verification")).to_be_visible()
    expect(page.locator("#status")).to_have_text("active")
    shot(page, "4-carol-exit")

    # The next start resumes the same session (200), and Link opens where she left off.
    page.get_by_role("button", name="Start verification").click()
    expect(page.locator("#message")).to_contain_text("Resumed your open session " + first + " (200)")
    expect(link(page).get_by_role("heading", name="Verify your phone number")).to_be_visible()
    assert session_id(page) == first
    link(page).get_by_role("button", name="Exit").click()
    expect(page.locator("#message")).to_contain_text("You closed Link before finishing")


def test_an_expired_session_shows_410_and_offers_a_new_attempt(page):
    from playwright.sync_api import expect

    as_user(page, "dave")
    page.get_by_role("button", name="Start verification").click()
    first = session_id(page)
    frame = link(page)
    expect(frame.get_by_role("heading", name="Verify your phone number")).to_be_visible()
    frame.get_by_role("button", name="Exit").click()
    expect(page.get_by_role("button", name="Continue verification")).to_be_visible()

    # The app's expiry window passes (SESSION_TTL_SECONDS, 48 h by default): idv-local moves the
    # session's expires_at into the past in the local table, as time would.
    subprocess.run(
        [os.environ["IDV_LOCAL"], "expire", "--table", os.environ["TABLE_NAME"], first],
        check=True,
        capture_output=True,
    )
    page.get_by_role("button", name="Continue verification").click()
    expect(page.locator("#message")).to_contain_text("410 session_expired")
    expect(page.locator("#status")).to_have_text("expired")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    shot(page, "5-dave-expired-410")

    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#message")).to_contain_text("(201), retrying " + first)
    expect(page.locator("#previous").get_by_role("link", name=first)).to_be_visible()
    expect(link(page).get_by_role("heading", name="Verify your phone number")).to_be_visible()
    link(page).get_by_role("button", name="Exit").click()
    expect(page.locator("#status")).to_have_text("active")
    assert session_id(page) != first


def test_mallory_cannot_see_alices_session(page):
    from playwright.sync_api import expect

    status, body = api("POST", "/sessions", "alice", {"gave_consent": True})
    assert status in (200, 201), body
    alices = body["id"]
    as_user(page, "mallory")
    page.get_by_label("Session id").fill(alices)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("alert")).to_contain_text("404 session_not_found")
    expect(page.locator("#session-card")).to_be_hidden()
    page.get_by_role("button", name="Show my sessions").click()
    expect(page.locator("#sessions")).to_contain_text("No sessions yet.")
    shot(page, "6-mallory-404")


def test_erin_verifies_from_a_link_on_the_emulators_own_origin(page):
    """The hosted flow: the session's shareable_url opens the emulator's page (its own origin,
    not the app's), the same steps as Link run there, and the app learns the outcome from our
    API. The owner can fetch the link again later; nobody else sees it."""
    from playwright.sync_api import expect

    emulator = os.environ["EMULATOR_URL"]
    as_user(page, "erin")
    page.get_by_role("button", name="Verify from a link").click()
    expect(page.locator("#message")).to_contain_text("with a verification link")
    share = page.locator("#share-url")
    expect(share).to_be_visible()
    url = share.get_attribute("href")
    sid = session_id(page)
    assert url.startswith(f"{emulator}/verify/{sid}?key="), url
    shot(page, "7-erin-link")

    # Later (a reload forgets it), the owner asks for the link again.
    page.reload()
    expect(page.get_by_text("the Plaid emulator’s stand-in")).to_be_visible()
    as_user(page, "erin")
    page.get_by_role("button", name="Show my sessions").click()
    page.locator("#sessions").get_by_role("link", name=sid).click()
    expect(page.locator("#status")).to_have_text("active")
    expect(share).to_be_hidden()
    page.get_by_role("button", name="Get my link again").click()
    expect(page.locator("#message")).to_contain_text("Here is your verification link again")
    expect(share).to_have_attribute("href", url)
    # Another user gets no session, so no link.
    status, body = api("GET", f"/sessions/{sid}?refresh=true", "mallory")
    assert (status, body["error"]["code"]) == (404, "session_not_found"), body

    # The person opens the link (in a real app, from an SMS): the emulator's hosted page.
    with page.expect_popup() as popup:
        share.click()
    hosted = popup.value
    expect(hosted.get_by_role("heading", name="Verify your phone number")).to_be_visible()
    assert hosted.url.startswith(emulator + "/"), hosted.url
    shot(hosted, "8-erin-hosted-flow", full_page=False)
    hosted.get_by_label("Phone number").fill("+12345678909")
    hosted.get_by_label("Verification code").fill("11111")
    hosted.get_by_role("button", name="Verify").click()
    expect(hosted.get_by_role("heading", name="Enter your details")).to_be_visible()
    for label, value in LESLIE.items():
        hosted.get_by_label(label, exact=True).fill(value)
    hosted.get_by_role("button", name="Continue").click()
    expect(hosted.get_by_role("heading", name="Verify your ID")).to_be_visible()
    hosted.get_by_role("button", name="Take a photo of my ID (simulated)").click()
    expect(hosted.get_by_role("heading", name="Take a selfie")).to_be_visible()
    hosted.get_by_role("button", name="Take a selfie (simulated)").click()
    expect(hosted.get_by_role("heading", name="You’re verified")).to_be_visible()
    shot(hosted, "9-erin-hosted-verified", full_page=False)

    # The app page, which never framed anything, learns the outcome from our API (webhooks).
    expect(page.locator("#status")).to_have_text("success", timeout=RESULT_TIMEOUT)
    expect(page.locator("#message")).to_contain_text("Verified")
    expect(share).to_be_hidden()
    expect(page.get_by_role("button", name="Get my link again")).to_be_hidden()
    for step in ["verify_sms", "kyc_check", "documentary_verification", "selfie_check"]:
        expect(page.locator(f'#steps li[data-step="{step}"] .badge')).to_have_text("success")
    shot(page, "10-erin-success")
    # A finished session's link is not handed out any more, and no longer opens a flow.
    status, body = api("GET", f"/sessions/{sid}?refresh=true", "erin")
    assert status == 200 and "shareable_url" not in body, body
    hosted.goto(url)
    expect(hosted.get_by_role("heading", name="This verification has already ended")).to_be_visible()
