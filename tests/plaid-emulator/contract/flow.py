#!/usr/bin/env python3
"""The emulator judged by Plaid's own generated client (plaid-python), at whatever version is
installed in the running interpreter.

It starts the emulator from its binary, then drives a whole flow through `plaid_api.PlaidApi`:
/link/token/create, /identity_verification/create (plain, idempotent, with the 1.778.0 request
fields when the client knows them), /get, /list with paging, /retry with each strategy,
/webhook_verification_key/get, an error body, and sessions walked through the emulator's
control API to success, failed, pending_review (then reviewed), expired and canceled, each read
back with /get. Every webhook the emulator fired is read into the client's webhook models.

plaid-python deserializes every answer into its models with type checking on: a missing
required key, a wrong type, a value outside an enum or an unexpected null raises. Each call
that the client accepts counts as one passed check.

    python flow.py --bin target/debug/plaid-emulator [--fixture FILE.json ...]

Prints one line per check, then `plaid-python X.Y.Z: N passed, M failed`; exits 1 on any
failure. Needs only the standard library and plaid-python.
"""

import argparse
import json
import os
import subprocess
import sys
import traceback
import urllib.request
from datetime import date

import plaid
from plaid.api import plaid_api
from plaid.model.country_code import CountryCode
from plaid.model.identity_verification_create_request import IdentityVerificationCreateRequest
from plaid.model.identity_verification_create_request_user import (
    IdentityVerificationCreateRequestUser,
)
from plaid.model.identity_verification_get_request import IdentityVerificationGetRequest
from plaid.model.identity_verification_get_response import IdentityVerificationGetResponse
from plaid.model.identity_verification_list_request import IdentityVerificationListRequest
from plaid.model.identity_verification_request_user_name import (
    IdentityVerificationRequestUserName,
)
from plaid.model.identity_verification_retried_webhook import IdentityVerificationRetriedWebhook
from plaid.model.identity_verification_retry_request import IdentityVerificationRetryRequest
from plaid.model.identity_verification_retry_request_steps_object import (
    IdentityVerificationRetryRequestStepsObject,
)
from plaid.model.identity_verification_status_updated_webhook import (
    IdentityVerificationStatusUpdatedWebhook,
)
from plaid.model.identity_verification_step_updated_webhook import (
    IdentityVerificationStepUpdatedWebhook,
)
from plaid.model.id_number_type import IDNumberType
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_identity_verification import (
    LinkTokenCreateRequestIdentityVerification,
)
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.plaid_error import PlaidError
from plaid.model.products import Products
from plaid.model.strategy import Strategy
from plaid.model.user_address import UserAddress
from plaid.model.user_id_number import UserIDNumber
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

CLIENT_ID = "contract-client"
SECRET = "contract-secret"
TEMPLATE = "idvtmp_contract"
TEMPLATE_2 = "idvtmp_contract_stepup"
VERSION = plaid.__version__
# Request fields added by API 2020-09-14_1.778.0 (plaid-python 46): sent when the client has them.
HAS_1778 = "language" in IdentityVerificationCreateRequest.attribute_map


class Check:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn):
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}".splitlines()[0][:400])
            if os.environ.get("CONTRACT_VERBOSE"):
                traceback.print_exc()
            return None
        self.passed += 1
        print(f"ok   {name}")
        return out


class Emulator:
    def __init__(self, binary):
        env = dict(
            os.environ,
            PLAID_CLIENT_ID=CLIENT_ID,
            PLAID_SECRET=SECRET,
            IDV_TEMPLATE_ID=TEMPLATE,
            IDV_TEMPLATE_IDS=TEMPLATE_2,
            RUST_LOG="warn",
        )
        self.proc = subprocess.Popen(
            [binary, "--port", "0"], stdout=subprocess.PIPE, env=env, text=True
        )
        first = self.proc.stdout.readline().strip()
        prefix = "listening on "
        if not first.startswith(prefix + "http://127.0.0.1:"):
            self.proc.kill()
            raise SystemExit(f"unexpected first line from the emulator: {first!r}")
        self.url = first[len(prefix):]

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Raw:
    """What ApiClient.deserialize reads: a response with `.data`."""

    def __init__(self, data):
        self.data = data


def client(url):
    configuration = plaid.Configuration(
        host=url,
        api_key={"clientId": CLIENT_ID, "secret": SECRET, "plaidVersion": "2020-09-14"},
    )
    # Strict typing is the generated client's default; make sure nothing turned it off.
    assert configuration.discard_unknown_keys is False
    api_client = plaid.ApiClient(configuration)
    return api_client, plaid_api.PlaidApi(api_client)


def strict(api_client, raw_json, model):
    """Deserialize like the client does for a response, type checking on."""
    return api_client.deserialize(Raw(raw_json), (model,), True)


def as_text(body):
    return body if isinstance(body, str) else json.dumps(body)


def leslie(**extra):
    user = dict(
        email_address="leslie.knope@example.com",
        phone_number="+12345678909",
        date_of_birth=date(1975, 1, 18),
        name=IdentityVerificationRequestUserName(given_name="Leslie", family_name="Knope"),
        address=UserAddress(
            street="123 Main St.", city="Pawnee", region="IN", postal_code="46001", country="US"
        ),
        id_number=UserIDNumber(value="123456789", type=IDNumberType("us_ssn")),
    )
    user.update(extra)
    return IdentityVerificationCreateRequestUser(**user)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="path to the plaid-emulator binary")
    ap.add_argument("--fixture", action="append", default=[], help="a /get response to check")
    args = ap.parse_args()

    c = Check()
    print(f"== plaid-python {VERSION} (typed models, strict) against {args.bin}")
    emu = Emulator(args.bin)
    try:
        flow(c, emu, args.fixture)
    finally:
        emu.stop()
    print(f"plaid-python {VERSION}: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


def flow(c, emu, fixtures):
    api_client, api = client(emu.url)

    for path in fixtures:
        with open(path) as f:
            raw = f.read()
        c.run(
            f"fixture {os.path.basename(path)} read as IdentityVerificationGetResponse",
            lambda raw=raw: strict(api_client, raw, IdentityVerificationGetResponse),
        )

    c.run(
        "/link/token/create",
        lambda: api.link_token_create(
            LinkTokenCreateRequest(
                client_name="Contract",
                language="en",
                country_codes=[CountryCode("US")],
                user=LinkTokenCreateRequestUser(client_user_id="u-link"),
                products=[Products("identity_verification")],
                identity_verification=LinkTokenCreateRequestIdentityVerification(
                    template_id=TEMPLATE, gave_consent=True
                ),
            )
        ),
    )

    def create(cuid, user=None, template=TEMPLATE, idempotent=None, **kw):
        fields = dict(
            client_user_id=cuid,
            template_id=template,
            gave_consent=True,
            is_shareable=True,
        )
        if user is not None:
            fields["user"] = user
        if idempotent is not None:
            fields["is_idempotent"] = idempotent
        fields.update(kw)
        return api.identity_verification_create(IdentityVerificationCreateRequest(**fields))

    def get(idv_id):
        return api.identity_verification_get(
            IdentityVerificationGetRequest(identity_verification_id=idv_id)
        )

    def walk(name, cuid, body, user=None, review=None):
        s = c.run(f"{name}: /identity_verification/create", lambda: create(cuid, user))
        if s is None:
            return None
        c.run(f"{name}: control finish {body}", lambda: emu.control(
            "POST", f"/emulator/sessions/{s.id}/finish", body))
        if review:
            c.run(f"{name}: control review {review}", lambda: emu.control(
                "POST", f"/emulator/sessions/{s.id}/review", {"outcome": review}))
        got = c.run(f"{name}: /identity_verification/get", lambda: get(s.id))
        return got

    def expect(name, cond, detail):
        def check():
            if not cond():
                raise AssertionError(detail())
        c.run(name, check)

    # Success: the Sandbox test identity, every step run, each result object filled.
    extra = {"ip_address": "203.0.113.7"} if HAS_1778 else {}
    kw = {}
    if HAS_1778:
        from plaid.model.identity_verification_language import IdentityVerificationLanguage

        kw["language"] = IdentityVerificationLanguage("en-US")
    got = None
    s = c.run(
        "success: /identity_verification/create" + (" (language, user.ip_address)" if HAS_1778 else ""),
        lambda: create("u-success", leslie(**extra), **kw),
    )
    if s is not None:
        c.run("success: create again, is_idempotent", lambda: create("u-success", idempotent=True))
        for step in ["verify_sms", "kyc_check", "documentary_verification", "selfie_check",
                     "risk_check", "watchlist_screening"]:
            body = {"step": step, "code": "11111"} if step == "verify_sms" else {"step": step}
            c.run(f"success: control complete_step {step}", lambda body=body: emu.control(
                "POST", f"/emulator/sessions/{s.id}/complete_step", body))
            c.run(f"success: /identity_verification/get after {step}", lambda: get(s.id))
        got = c.run("success: /identity_verification/get at the end", lambda: get(s.id))
    if s is not None and got is not None:
        expect("success: status success", lambda: str(got.status) == "success", lambda: got.status)
        expect(
            "success: kyc_check.id_number read (with ssa_verification on 1.778.0)",
            lambda: got.kyc_check.id_number.summary is not None,
            lambda: got.kyc_check,
        )
        if HAS_1778:
            expect(
                "success: 1.778.0 keys carry Sandbox's answers (SSA match, email name)",
                lambda: str(got.kyc_check.id_number.ssa_verification.match) == "match"
                and str(got.risk_check.email.name) in ("match", "partial_match"),
                lambda: (got.kyc_check.id_number, got.risk_check.email),
            )

    # Last 4 of the SSN only: no SSA answer (ssa_verification null).
    last4 = walk("ssn last 4", "u-last4", {"outcome": "success"},
                 user=leslie(id_number=UserIDNumber(value="6789", type=IDNumberType("us_ssn_last_4"))))
    if HAS_1778 and last4 is not None:
        expect("ssn last 4: ssa_verification null", lambda: last4.kyc_check.id_number.ssa_verification is None,
               lambda: last4.kyc_check.id_number)
    # Other data: Sandbox fails KYC and documents.
    other = leslie(name=IdentityVerificationRequestUserName(given_name="Ann", family_name="Perkins"))
    walk("failed (sandbox rule)", "u-failed", {}, user=other)
    walk("failed (forced)", "u-failed2", {"outcome": "failed"})
    at_risk = walk("failed at risk_check", "u-failed3", {"outcome": "failed", "failed_step": "risk_check"})
    if at_risk is not None:
        expect(
            "failed at risk_check: status failed, risk_check the one failed step",
            lambda: str(at_risk.status) == "failed"
            and str(at_risk.steps.risk_check) == "failed"
            and [str(v) for v in at_risk.steps.to_dict().values()].count("failed") == 1,
            lambda: (at_risk.status, at_risk.steps),
        )
    walk("pending_review", "u-review", {"outcome": "pending_review"})
    walk("pending_review then success", "u-review2", {"outcome": "pending_review"}, review="success")
    walk("pending_review then failed", "u-review3", {"outcome": "pending_review"}, review="failed")
    walk("expired", "u-expired", {"outcome": "expired"})
    walk("canceled", "u-canceled", {"outcome": "canceled"})

    # Retry with each strategy; each new session walked to an end and read back.
    def retry(cuid, strategy, steps=None, template=TEMPLATE):
        fields = dict(client_user_id=cuid, template_id=template, strategy=Strategy(strategy))
        if steps is not None:
            fields["steps"] = steps
        return api.identity_verification_retry(IdentityVerificationRetryRequest(**fields))

    r = c.run("retry incomplete", lambda: retry("u-failed2", "incomplete"))
    if r is not None:
        c.run("retry incomplete: finish success", lambda: emu.control(
            "POST", f"/emulator/sessions/{r.id}/finish", {"outcome": "success"}))
        c.run("retry incomplete: /get", lambda: get(r.id))
    c.run("retry reset", lambda: retry("u-expired", "reset"))
    c.run("retry infer", lambda: retry("u-canceled", "infer"))
    c.run("retry custom", lambda: retry("u-failed3", "custom", IdentityVerificationRetryRequestStepsObject(
        verify_sms=False, kyc_check=True, documentary_verification=True, selfie_check=False)))
    c.run("retry to another template (step-up)", lambda: retry("u-success", "reset", template=TEMPLATE_2))

    # List with paging (page size 2): the user with the most sessions.
    for cuid in ["u-failed2", "u-success"]:
        cursor = None
        page = 0
        while True:
            page += 1
            fields = dict(client_user_id=cuid, template_id=TEMPLATE)
            if cursor:
                fields["cursor"] = cursor
            resp = c.run(f"/identity_verification/list {cuid} page {page}", lambda f=fields: (
                api.identity_verification_list(IdentityVerificationListRequest(**f))))
            cursor = resp.next_cursor if resp is not None else None
            if not cursor or page > 5:
                break

    # Webhooks: every delivery read into the client's webhook models; its key fetched.
    models = {
        "STATUS_UPDATED": IdentityVerificationStatusUpdatedWebhook,
        "STEP_UPDATED": IdentityVerificationStepUpdatedWebhook,
        "RETRIED": IdentityVerificationRetriedWebhook,
    }
    outbox = emu.control("GET", "/emulator/webhooks")
    seen = set()
    for record in outbox:
        code = record["webhook_code"]
        if code in seen:
            continue
        seen.add(code)
        c.run(f"webhook {code} read as {models[code].__name__}",
              lambda r=record: strict(api_client, as_text(r["body"]), models[r["webhook_code"]]))
    expect("webhooks: STATUS_UPDATED, STEP_UPDATED and RETRIED all fired",
           lambda: seen == set(models), lambda: seen)
    kids = sorted({record["kid"] for record in outbox})
    for kid in kids:
        c.run(f"/webhook_verification_key/get {kid}", lambda kid=kid: api.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=kid)))
    rotated = emu.control("POST", "/emulator/keys/rotate")
    emu.control("POST", f"/emulator/keys/{kids[0]}/expire") if kids else None
    if kids:
        c.run("/webhook_verification_key/get, an expired key (expired_at set)",
              lambda: api.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=kids[0])))
    c.run("/webhook_verification_key/get, the rotated-in key",
          lambda: api.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=rotated["kid"])))

    # An error: Plaid's error body, read into PlaidError.
    def unknown_session():
        try:
            get("idv_doesnotexist00")
        except plaid.ApiException as e:
            if e.status != 400:
                raise AssertionError(f"status {e.status}")
            return strict(api_client, e.body, PlaidError)
        raise AssertionError("no error for an unknown id")

    c.run("/identity_verification/get unknown id: 400 body read as PlaidError", unknown_session)


if __name__ == "__main__":
    sys.exit(main())
