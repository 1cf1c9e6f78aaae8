"""A local fake of the Stripe API endpoints the API and CLI call.

It runs an HTTP server on 127.0.0.1 and ASSERTS what it is sent: a create
without an Idempotency-Key, without metadata.user_id, or (for sessions)
without client_reference_id, the expected mode or a price is refused with a
400, and the problem is kept in `violations` for the test to see. Objects are
answered in the shape of the pinned API version (2025-03-31.basil: the period
end lives on subscription items; charges carry `customer`, not `invoice`).
Like Stripe, a create whose Idempotency-Key is still in flight answers 409
(the SDK retries it), and a finished one answers the same object again.
`delays` slows chosen operations down, as a slow Stripe would be.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2025-03-31.basil"
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):06d}{int(time.time() * 1000) % 100000:05d}"


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe:
    """State of the fake: objects by id, every call, and refused calls."""

    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    line_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail_with: int | None = None  # answer every call with this HTTP status
    customer_delay: float = 0.0  # widen the race window of customer creation
    # seconds to wait before answering, by operation: customers.create,
    # charges.retrieve, payment_intents.retrieve, checkout.sessions.line_items
    delays: dict[str, float] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def creates(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path == path]

    def started(self, method: str, path: str) -> bool:
        """Whether a call to `path` has been received (it may still be being answered)."""
        with self.lock:
            return any(c.method == method and c.path == path for c in self.calls)

    def add_line_items(self, session_id: str, price: str, amount: int, quantity: int = 1) -> None:
        """What `GET /v1/checkout/sessions/<id>/line_items` answers for a session."""
        self.line_items[session_id] = [
            {
                "id": new_id("li"),
                "object": "item",
                "amount_subtotal": amount * quantity,
                "amount_total": amount * quantity,
                "currency": "usd",
                "description": "pack",
                "price": {"id": price, "object": "price", "unit_amount": amount},
                "quantity": quantity,
            }
        ]

    def add_charge(
        self,
        customer: str | None,
        payment_intent: dict[str, Any] | None,
        amount: int = 999,
        amount_refunded: int = 0,
    ) -> dict[str, Any]:
        """A charge (and its PaymentIntent, for `expand[]=payment_intent`) Stripe holds."""
        cid = new_id("ch")
        if payment_intent is not None:
            self.intents[payment_intent["id"]] = payment_intent
        charge = {
            "id": cid,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": amount_refunded,
            "currency": "usd",
            "customer": customer,
            "metadata": {},
            "payment_intent": payment_intent["id"] if payment_intent else None,
            "refunded": amount_refunded >= amount,
            "status": "succeeded",
            "created": int(time.time()),
        }
        self.charges[cid] = charge
        return charge

    def refund(self, charge_id: str, amount: int) -> dict[str, Any]:
        """A refund of `amount` (listed by `GET /v1/refunds`); the charge's amount_refunded
        grows by it, as Stripe's does."""
        with self.lock:
            charge = self.charges[charge_id]
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            refund = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "charge": charge_id,
                "currency": charge["currency"],
                "payment_intent": charge["payment_intent"],
                "status": "succeeded",
                "created": int(time.time()),
            }
            self.refunds[refund["id"]] = refund
            return refund

    def dispute(
        self, charge_id: str, status: str = "needs_response", reason: str = "fraudulent"
    ) -> dict[str, Any]:
        """A dispute of a charge (listed by `GET /v1/disputes`): its charge is an id, and it
        names no customer."""
        with self.lock:
            charge = self.charges[charge_id]
            dispute = {
                "id": new_id("du"),
                "object": "dispute",
                "amount": charge["amount"],
                "charge": charge_id,
                "currency": charge["currency"],
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": status,
                "created": int(time.time()),
            }
            self.disputes[dispute["id"]] = dispute
            return dispute

    def add_subscription(
        self, customer: str, price: str, user_id: str, status: str = "active", **extra: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        sub = {
            "id": new_id("sub"),
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "created": now,
            "metadata": {"user_id": user_id},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": new_id("si"),
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "quantity": 1,
                        "current_period_start": now,
                        "current_period_end": now + 30 * 86400,
                    }
                ],
            },
            **extra,
        }
        self.subscriptions[sub["id"]] = sub
        return sub

    def pay_pending_update(self, sub_id: str) -> dict[str, Any]:
        """The upgrade invoice is paid: Stripe applies the pending update to the subscription."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            pending = sub.pop("pending_update")
            sub["items"]["data"] = pending["subscription_items"]
            sub["pending_update"] = None
            return sub


def _nested(params: dict[str, str]) -> dict[str, Any]:
    """Stripe's form encoding (a[b][0][c]=v) back into nested dicts/lists."""
    root: dict[str, Any] = {}
    for key, value in params.items():
        parts = key.replace("]", "").split("[")
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = parts[i + 1] if not last else None
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append({} if nxt is not None and not nxt.isdigit() else [])
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt is not None and nxt.isdigit() else {})
    return root


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any], retry: bool | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", new_id("req"))
            if retry is not None:
                self.send_header("Stripe-Should-Retry", "true" if retry else "false")
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, problem: str) -> None:
            with fake.lock:
                fake.violations.append(f"{self.command} {self.path}: {problem}")
            self._send(
                400,
                {"error": {"type": "invalid_request_error", "message": f"fake: {problem}"}},
                retry=False,
            )

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else url.query
            flat = dict(parse_qsl(raw, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.calls.append(Call(self.command, url.path, flat, headers))
            if fake.fail_with:
                self._send(
                    fake.fail_with,
                    {"error": {"type": "api_error", "message": "fake: Stripe is down"}},
                    retry=False,
                )
                return
            if headers.get("stripe-version") != API_VERSION:
                self._refuse(f"Stripe-Version {headers.get('stripe-version')!r}")
                return
            params = _nested(flat)
            if self.command == "POST" and not headers.get("idempotency-key"):
                self._refuse("no Idempotency-Key header")
                return
            route = (self.command, url.path.rstrip("/"))
            parts = url.path.strip("/").split("/")
            try:
                if route == ("POST", "/v1/customers"):
                    self._customer(params)
                elif route == ("POST", "/v1/checkout/sessions"):
                    self._session(params)
                elif route == ("POST", "/v1/payment_intents"):
                    self._intent(params)
                elif route == ("POST", "/v1/billing_portal/sessions"):
                    self._portal(params)
                elif parts[:2] == ["v1", "subscriptions"] and len(parts) == 3:
                    self._subscription(parts[2], params)
                elif (
                    self.command == "GET"
                    and parts[:3] == ["v1", "checkout", "sessions"]
                    and (parts[4:] == ["line_items"])
                ):
                    self._line_items(parts[3])
                elif self.command == "GET" and parts[:2] == ["v1", "charges"] and len(parts) == 3:
                    self._charge(parts[2], params)
                elif (
                    self.command == "GET"
                    and parts[:2] == ["v1", "payment_intents"]
                    and len(parts) == 3
                ):
                    self._retrieve(fake.intents, parts[2], "payment_intents.retrieve")
                elif self.command == "GET" and url.path in LISTS:
                    self._list(LISTS[url.path], params)
                else:
                    self._send(404, {"error": {"type": "invalid_request_error", "message": "?"}})
            except KeyError as exc:
                self._refuse(f"missing parameter {exc}")

        do_GET = do_POST = do_DELETE = _handle

        def _need_user(self, params: dict[str, Any], where: str = "metadata") -> str | None:
            user_id = (
                params.get(where, {}).get("user_id")
                if isinstance(params.get(where), dict)
                else None
            )
            if not user_id:
                self._refuse(f"no {where}.user_id")
            return user_id

        def _customer(self, params: dict[str, Any]) -> None:
            if not self._need_user(params):
                return
            key = self.headers["Idempotency-Key"]
            with fake.lock:
                # Stripe's idempotency: the same key answers the same object…
                for existing in fake.customers.values():
                    if existing["_key"] == key:
                        self._send(200, existing)
                        return
                # …and a request with a key still being processed gets a 409
                if key in fake.in_flight:
                    self._send(
                        409,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "code": "idempotency_key_in_use",
                                "message": "fake: a request with this key is in progress",
                            }
                        },
                    )
                    return
                fake.in_flight.add(key)
            try:
                time.sleep(fake.customer_delay + fake.delays.get("customers.create", 0.0))
                obj = {
                    "id": new_id("cus"),
                    "object": "customer",
                    "email": params.get("email"),
                    "metadata": params["metadata"],
                    "_key": key,
                }
                with fake.lock:
                    fake.customers[obj["id"]] = obj
            finally:
                with fake.lock:
                    fake.in_flight.discard(key)
            self._send(200, obj)

        def _missing(self, what: str) -> None:
            self._send(
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": f"fake: no such {what}",
                    }
                },
            )

        def _retrieve(self, objects: dict[str, dict[str, Any]], oid: str, op: str) -> None:
            time.sleep(fake.delays.get(op, 0.0))
            with fake.lock:
                obj = objects.get(oid)
            if obj is None:
                self._missing(op.split(".")[0])
                return
            self._send(200, obj)

        def _charge(self, charge_id: str, params: dict[str, Any]) -> None:
            time.sleep(fake.delays.get("charges.retrieve", 0.0))
            with fake.lock:
                charge = fake.charges.get(charge_id)
                intent = fake.intents.get(charge["payment_intent"] or "") if charge else None
            if charge is None:
                self._missing("charge")
                return
            if "payment_intent" in params.get("expand", []) and intent is not None:
                charge = {**charge, "payment_intent": intent}
            self._send(200, charge)

        def _line_items(self, session_id: str) -> None:
            time.sleep(fake.delays.get("checkout.sessions.line_items", 0.0))
            with fake.lock:
                items = fake.line_items.get(session_id)
            if items is None:
                self._missing("checkout session")
                return
            url = f"/v1/checkout/sessions/{session_id}/line_items"
            self._send(200, {"object": "list", "url": url, "has_more": False, "data": items})

        def _session(self, params: dict[str, Any]) -> None:
            mode = params["mode"]
            if mode not in ("payment", "subscription"):
                self._refuse(f"mode {mode!r}")
                return
            if not params.get("client_reference_id"):
                self._refuse("no client_reference_id")
                return
            if not params["line_items"][0]["price"].startswith("price_"):
                self._refuse("line_items[0][price] is not a price id")
                return
            if not params["customer"].startswith("cus_"):
                self._refuse("no customer")
                return
            nested = "payment_intent_data" if mode == "payment" else "subscription_data"
            if not self._need_user(params) or not self._need_user(params[nested], "metadata"):
                return
            extra = "pack_id" if mode == "payment" else "tier"
            if not params["metadata"].get(extra) or not params[nested]["metadata"].get(extra):
                self._refuse(f"no metadata.{extra}")
                return
            sid = new_id("cs_test")
            obj = {
                "id": sid,
                "object": "checkout.session",
                "mode": mode,
                "url": f"https://checkout.stripe.test/c/pay/{sid}",
                "customer": params["customer"],
                "client_reference_id": params["client_reference_id"],
                "metadata": params["metadata"],
                "payment_status": "unpaid",
                "status": "open",
                "line_items_price": params["line_items"][0]["price"],
                "created": int(time.time()),
            }
            with fake.lock:
                fake.sessions[sid] = obj
            fake.add_line_items(sid, params["line_items"][0]["price"], 0)
            self._send(200, obj)

        def _intent(self, params: dict[str, Any]) -> None:
            if not self._need_user(params) or not params["metadata"].get("pack_id"):
                self._refuse("no metadata.pack_id")
                return
            pid = new_id("pi")
            obj = {
                "id": pid,
                "object": "payment_intent",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "customer": params["customer"],
                "metadata": params["metadata"],
                "status": "requires_payment_method",
                "client_secret": f"{pid}_secret_fake",
                "created": int(time.time()),
            }
            with fake.lock:
                fake.intents[pid] = obj
            self._send(200, obj)

        def _portal(self, params: dict[str, Any]) -> None:
            if not params["customer"].startswith("cus_") or not params["return_url"]:
                self._refuse("no customer/return_url")
                return
            self._send(
                200,
                {
                    "id": new_id("bps"),
                    "object": "billing_portal.session",
                    "url": f"https://billing.stripe.test/p/session/{params['customer']}",
                },
            )

        def _subscription(self, sub_id: str, params: dict[str, Any]) -> None:
            with fake.lock:
                sub = fake.subscriptions.get(sub_id)
            if sub is None:
                self._send(404, {"error": {"type": "invalid_request_error", "message": "no sub"}})
                return
            if self.command == "POST":
                if "items" in params:
                    item = params["items"][0]
                    if item.get("id") != sub["items"]["data"][0]["id"]:
                        self._refuse("items[0][id] is not the existing item")
                        return
                    if params.get("proration_behavior") != "always_invoice":
                        self._refuse("no proration_behavior=always_invoice")
                        return
                    if params.get("payment_behavior") != "pending_if_incomplete":
                        self._refuse("no payment_behavior=pending_if_incomplete")
                        return
                    extra = set(params) - {"items", "proration_behavior", "payment_behavior"}
                    if extra:  # Stripe: a pending update takes only these parameters
                        self._refuse(f"not supported by pending updates: {sorted(extra)}")
                        return
                    # The proration invoice is not paid yet: the change waits in pending_update
                    # (FakeStripe.pay_pending_update applies it, as the invoice's payment does).
                    pending_item = {**sub["items"]["data"][0]}
                    pending_item["price"] = {"id": item["price"], "object": "price"}
                    sub["pending_update"] = {
                        "billing_cycle_anchor": None,
                        "expires_at": int(time.time()) + 23 * 3600,
                        "subscription_items": [pending_item],
                        "trial_end": None,
                        "trial_from_plan": None,
                    }
                if "cancel_at_period_end" in params:
                    sub["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
            elif self.command == "DELETE":
                # without these, prorations not yet invoiced (a plan change) are dropped
                if params.get("invoice_now") != "true" or params.get("prorate") != "true":
                    self._refuse("cancel without invoice_now=true and prorate=true")
                    return
                sub["status"] = "canceled"
            self._send(200, sub)

        def _list(self, kind: str, params: dict[str, Any]) -> None:
            since = int(params.get("created", {}).get("gte", 0))
            with fake.lock:
                objects = list(getattr(fake, kind).values())
            data = [o for o in objects if o.get("created", 0) >= since]
            self._send(200, {"object": "list", "url": self.path, "has_more": False, "data": data})

    return Handler


LISTS = {
    "/v1/checkout/sessions": "sessions",
    "/v1/payment_intents": "intents",
    "/v1/subscriptions": "subscriptions",
    "/v1/refunds": "refunds",
    "/v1/disputes": "disputes",
}


def serve() -> Iterator[FakeStripe]:
    """Run the fake on a free loopback port for the duration of the generator."""
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
