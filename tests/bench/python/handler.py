"""create-session written the usual Python way: the baseline of `make bench`.

The same flow and round trips as shared::handlers::create_session for a first start: read the
caller from the JWT authorizer claims, query the user's latest session on the by_user_template
index, create the session at Plaid (idempotent), write it with a conditional put, answer 201
(200 when a live session is resumed or the put finds the item already there). The tools are the
ones a Python team reaches for: Plaid's SDK (plaid-python), boto3, AWS Lambda Powertools
(logger + HTTP API resolver), run by AWS's runtime interface client (awslambdaric).

As in the Rust functions, clients and the Plaid credentials from Secrets Manager are set up once
per cold start, at import time.
"""

import json
import os
from datetime import datetime, timedelta, timezone

import boto3
import plaid
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from plaid.api import plaid_api
from plaid.model.identity_verification_create_request import (
    IdentityVerificationCreateRequest,
)

logger = Logger(service="create-session")
app = APIGatewayHttpResolver()

TEMPLATE_ID = os.environ["IDV_TEMPLATE_ID"]
SESSION_TTL = timedelta(seconds=int(os.environ.get("SESSION_TTL_SECONDS", "172800")))
FINAL = {"success", "failed", "expired", "canceled", "pending_review"}

_secret = json.loads(
    boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["PLAID_SECRET_ID"])[
        "SecretString"
    ]
)
_plaid = plaid_api.PlaidApi(
    plaid.ApiClient(
        plaid.Configuration(
            host=os.environ["PLAID_BASE_URL"],
            api_key={"clientId": _secret["client_id"], "secret": _secret["secret"]},
        )
    )
)
_table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _body(item: dict) -> dict:
    return {
        "id": item["id"],
        "status": item["status"],
        "steps": item["steps"],
        "created_at": item["created_at"],
        "expires_at": item["expires_at"],
    }


@app.post("/sessions")
def create_session():
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    sub = claims.get("sub")
    if not sub:
        return Response(401, "application/json", json.dumps({"error": "unauthorized"}))
    body = app.current_event.json_body or {}
    template = body.get("template_id") or TEMPLATE_ID
    now = datetime.now(timezone.utc)

    latest = _table.query(
        IndexName="by_user_template",
        KeyConditionExpression=Key("user_template").eq(f"{sub}#{template}"),
        ScanIndexForward=False,
        Limit=1,
    )["Items"]
    if latest and latest[0]["status"] not in FINAL and latest[0]["expires_at"] > _ts(now):
        return Response(200, "application/json", json.dumps(_body(latest[0])))

    iv = _plaid.identity_verification_create(
        IdentityVerificationCreateRequest(
            client_user_id=sub,
            template_id=template,
            gave_consent=bool(body.get("gave_consent", False)),
            is_shareable=bool(body.get("is_shareable", False)),
            is_idempotent=True,
        )
    ).to_dict()
    if iv["client_user_id"] != sub or iv["template"]["id"] != template:
        logger.error("plaid returned a session for another user or template")
        return Response(502, "application/json", json.dumps({"error": "plaid_failed"}))

    item = {
        "id": iv["id"],
        "client_user_id": sub,
        "template_id": template,
        "user_template": f"{sub}#{template}",
        "status": str(iv["status"]),
        "steps": {k: str(v) for k, v in iv["steps"].items()},
        "created_at": _ts(iv["created_at"]),
        "updated_at": _ts(now),
        "synced_at": _ts(now),
        "expires_at": _ts(now + SESSION_TTL),
        "open_shard": "open",
    }
    created = True
    try:
        _table.put_item(Item=item, ConditionExpression="attribute_not_exists(id)")
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        created = False
    logger.info("session started", extra={"idv_id": item["id"], "new_session": created})
    out = _body(item)
    out["shareable_url"] = iv.get("shareable_url")
    return Response(201 if created else 200, "application/json", json.dumps(out))


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
