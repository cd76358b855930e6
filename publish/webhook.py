"""The `webhook` target: one signed JSON POST per story revision.

The body is a JSON Feed 1.1 item plus `story_id`, `revision`, `retracted` and `source`. Headers:
`X-Feedrelay-Delivery` (a stable id per target, story and revision — receivers de-duplicate
redeliveries with it), `X-Feedrelay-Event` and `X-Feedrelay-Signature: sha256=<hex>`, the
HMAC-SHA256 of the exact body bytes with the secret from the `secret_env` variable.
Deliveries are ordered (`ordered = True`): a failing one holds back later ones of this target.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid

import requests

from feedrelay.config import WebhookTargetConfig
from feedrelay.items import Entry
from ingest.urls import display_url, redact_url
from publish.base import Archive, TargetError, retry_after_seconds
from publish.render import json_feed_item, source_info

SIGNATURE_HEADER = "X-Feedrelay-Signature"
DELIVERY_HEADER = "X-Feedrelay-Delivery"
EVENT_HEADER = "X-Feedrelay-Event"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` (a header value) signs `body` with `secret` (constant-time)."""
    if not signature:
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged header must be a
    # False, not an exception in the receiver).
    return hmac.compare_digest(sign(secret, body).encode(), signature.encode("utf-8", "surrogateescape"))


class WebhookTarget:
    """POSTs each story revision to one URL."""

    ordered = True

    def __init__(self, config: WebhookTargetConfig) -> None:
        self.name = config.name
        self.config = config
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["User-Agent"] = "feedrelay (webhook target)"

    def delivery_id(self, entry: Entry) -> str:
        """The same id for every attempt at one revision, so receivers can de-duplicate."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"feedrelay:{self.name}:{entry.entry_id}#{entry.revision}"))

    def payload(self, entry: Entry) -> bytes:
        """The JSON body for the entry."""
        document = json_feed_item(entry, self.config.attribution)
        document.pop("_feedrelay")
        document.update(story_id=entry.story_id, revision=entry.revision, retracted=entry.retracted,
                        copies=entry.copies, source=source_info(entry))
        # "replace": a lone surrogate stored before ingest dropped them must not block the queue
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")

    def deliver(self, entry: Entry, remote_ref: str | None) -> str | None:
        """POST the revision; 2xx means delivered. Returns the delivery id."""
        secret = os.environ.get(self.config.secret_env)
        if not secret:
            raise TargetError(f"environment variable {self.config.secret_env} (the webhook secret) is "
                              f"not set; target paused", pause=True, retry=False)
        body = self.payload(entry)
        delivery = self.delivery_id(entry)
        # "published" for the first revision this target gets (a target added later, or one a copy
        # it accepts brought the story to, may first get revision 3), "revised" after that
        event = "retracted" if entry.retracted else ("published" if remote_ref is None else "revised")
        headers = {"Content-Type": "application/json; charset=utf-8", DELIVERY_HEADER: delivery,
                   EVENT_HEADER: event, SIGNATURE_HEADER: sign(secret, body)}
        try:
            response = self.session.post(self.config.url, data=body, headers=headers, allow_redirects=False,
                                         timeout=self.config.timeout.total_seconds())
        except requests.RequestException as exc:
            raise TargetError(f"webhook {display_url(self.config.url)} unreachable: "
                              f"{redact_url(str(exc), self.config.url)}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return delivery
        message = f"webhook {display_url(self.config.url)} answered HTTP {status}: {response.text[:200].strip()}"
        if status in (401, 403):
            raise TargetError(message + " (check the shared secret); target paused", pause=True, retry=False)
        if status == 410:  # the receiver is gone: hold the whole queue, don't POST every story to it
            raise TargetError(message + "; target paused", pause=True, retry=False, gone=True)
        if 300 <= status < 400:  # a signed body is not re-sent to another address on the server's word
            location = display_url(response.headers.get("Location", "?"))
            raise TargetError(f"{message} (moved to {location}: update the target's url); target paused",
                              pause=True, retry=False)
        if status in (408, 425, 429) or status >= 500:
            raise TargetError(message, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        # Any other 4xx: the receiver refuses this delivery for good; the queue moves past it.
        raise TargetError(message + " (not retried)", retry=False)

    def flush(self, archive: Archive) -> None:
        """Nothing to do: every delivery was sent on its own."""
