"""Local stand-ins for the Alibaba Cloud and Tencent Cloud SMS APIs.

The real SDKs send to them through their endpoint setting over plain HTTP; nothing in
the SDKs is replaced. Each request is checked the way the vendor documents it, from the
raw HTTP request and the key's secret:

* Alibaba Cloud (ACS3-HMAC-SHA256, RPC style): ``Authorization`` names a known AccessKey
  ID; every ``x-acs-*`` header, ``host`` and ``content-type`` are signed;
  ``x-acs-content-sha256`` is the body's SHA-256; ``x-acs-date`` is within 15 minutes;
  the nonce is not reused; the signature equals HMAC-SHA256(secret, "ACS3-HMAC-SHA256\\n"
  + SHA-256(canonical request)) over the RFC 3986 canonical query string; action
  ``SendSms``, version ``2017-05-25``; ``PhoneNumbers``, ``SignName``, ``TemplateCode``
  present and ``TemplateParam`` a JSON object of strings.
* Tencent Cloud (TC3-HMAC-SHA256): ``Authorization`` names a known SecretId, today's
  UTC date of ``X-TC-Timestamp`` and service ``sms``; the timestamp is within 5 minutes;
  ``content-type`` and ``host`` are signed; the signature is the TC3 key derivation
  (date → service → "tc3_request") applied to the string to sign; action ``SendSms``,
  version ``2021-01-11``, a region; ``PhoneNumberSet``, ``SmsSdkAppId``, ``TemplateId``,
  ``SignName`` present and ``TemplateParamSet`` a list of strings.

They answer with the vendor's JSON: success, the vendor's error for a request that fails
a check (``SignatureDoesNotMatch``, ``AuthFailure.SignatureFailure`` ...), or a business
refusal scripted by the test (``isv.BUSINESS_LIMIT_CONTROL`` for a whole Alibaba Cloud
request, a per-number code such as ``LimitExceeded.PhoneNumberDailyLimit`` for Tencent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

ALIYUN_KEYS = {"LTAI5tSchedkitTest01": "aliyun-secret-0123456789abcdefABCDEF"}
TENCENT_KEYS = {"AKIDschedkitTest0123456789": "tencent-secret-0123456789abcdefABCD"}

_ACS3 = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=(?P<key>[^,]+),SignedHeaders=(?P<signed>[^,]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_TC3 = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


class Refused(Exception):
    """A check failed: the vendor's HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class SmsRequest:
    """One request as the stand-in received and judged it."""

    vendor: str
    headers: dict[str, str]
    body: bytes
    #: Alibaba Cloud: the query parameters; Tencent Cloud: the JSON body.
    params: dict[str, Any]
    #: "OK" when every check passed, else the vendor error code answered.
    verdict: str
    #: The business answer (Alibaba Cloud code, or Tencent code per phone).
    answer: Any = None

    @property
    def phones(self) -> list[str]:
        if self.vendor == "aliyun":
            return str(self.params["PhoneNumbers"]).split(",")
        return list(self.params["PhoneNumberSet"])

    @property
    def template_params(self) -> Any:
        if self.vendor == "aliyun":
            return (
                json.loads(self.params["TemplateParam"]) if "TemplateParam" in self.params else {}
            )
        return self.params.get("TemplateParamSet", [])


@dataclass
class Refusal:
    code: str
    message: str
    #: Tencent: the numbers refused (None: all); Alibaba Cloud refuses whole requests.
    phones: set[str] | None = None


@dataclass
class SmsVendor:
    port: int = 0
    requests: list[SmsRequest] = field(default_factory=list)
    #: Business answers for the next requests that pass the checks, in order.
    script: list[Refusal] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    nonces: set[str] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def refuse_next(self, code: str, message: str, phones: set[str] | None = None) -> None:
        with self.lock:
            self.script.append(Refusal(code, message, phones))

    def of(self, vendor: str) -> list[SmsRequest]:
        with self.lock:
            return [r for r in self.requests if r.vendor == vendor]

    # -- Alibaba Cloud -------------------------------------------------------------------

    def aliyun(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        request = SmsRequest("aliyun", headers, body, query, "OK")
        request_id = str(uuid.uuid4()).upper()
        try:
            self._check_acs3(method, parts.path or "/", query, headers, body)
            _check_send_sms_aliyun(query)
        except Refused as exc:
            request.verdict = exc.code
            self._record(request)
            return exc.status, {
                "RequestId": request_id,
                "HostId": headers.get("host", ""),
                "Code": exc.code,
                "Message": exc.message,
            }
        refusal = self._next_refusal()
        self._record(request)
        if refusal is not None:
            request.answer = refusal.code
            return 200, {"Code": refusal.code, "Message": refusal.message, "RequestId": request_id}
        request.answer = "OK"
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "BizId": "9006197469364984^0",
            "RequestId": request_id,
        }

    def _check_acs3(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> None:
        match = _ACS3.match(headers.get("authorization", ""))
        if match is None:
            raise Refused(400, "IncompleteSignature", "The request signature does not conform.")
        secret = ALIYUN_KEYS.get(match["key"])
        if secret is None:
            raise Refused(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = match["signed"].split(";")
        must = {"host", *(h for h in headers if h.startswith("x-acs-"))}
        if "content-type" in headers:
            must.add("content-type")
        if not must <= set(signed) or signed != sorted(signed):
            raise Refused(400, "IncompleteSignature", f"Headers not signed: {must - set(signed)}")
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            raise Refused(400, "ContentSHA256NotMatched", "The body does not match its hash.")
        date = datetime.strptime(headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        if abs(date.replace(tzinfo=UTC).timestamp() - time.time()) > 900:
            raise Refused(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        nonce = headers.get("x-acs-signature-nonce", "")
        with self.lock:
            if not nonce or nonce in self.nonces:
                raise Refused(400, "SignatureNonceUsed", "Specified signature nonce was used.")
            self.nonces.add(nonce)
        canonical_query = "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(query.items()))
        canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
        canonical = "\n".join(
            [method, path, canonical_query, canonical_headers, ";".join(signed), payload_hash]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["signature"]):
            raise Refused(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )

    # -- Tencent Cloud -------------------------------------------------------------------

    def tencent(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        request_id = str(uuid.uuid4())
        try:
            params = json.loads(body.decode("utf-8"))
        except ValueError:
            params = {}
        request = SmsRequest("tencent", headers, body, params, "OK")
        try:
            self._check_tc3(method, urlsplit(target).path or "/", headers, body)
            _check_send_sms_tencent(headers, params)
        except Refused as exc:
            request.verdict = exc.code
            self._record(request)
            error = {"Code": exc.code, "Message": exc.message}
            return 200, {"Response": {"Error": error, "RequestId": request_id}}
        refusal = self._next_refusal()
        statuses = []
        for phone in params["PhoneNumberSet"]:
            code, message = "Ok", "send success"
            if refusal is not None and (refusal.phones is None or phone in refusal.phones):
                code, message = refusal.code, refusal.message
            statuses.append(
                {
                    "SerialNo": f"2433:{uuid.uuid4().int % 10**12}" if code == "Ok" else "",
                    # The API answers in E.164 whatever form the request used.
                    "PhoneNumber": phone if phone.startswith("+") else "+86" + phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": "",
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
        request.answer = [s["Code"] for s in statuses]
        self._record(request)
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}

    def _check_tc3(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        match = _TC3.match(headers.get("authorization", ""))
        if match is None:
            raise Refused(200, "AuthFailure.InvalidAuthorization", "Authorization is invalid.")
        secret = TENCENT_KEYS.get(match["key"])
        if secret is None:
            raise Refused(200, "AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        timestamp = int(headers.get("x-tc-timestamp", "0"))
        if abs(timestamp - time.time()) > 300:
            raise Refused(200, "AuthFailure.SignatureExpire", "Signature expired.")
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if match["date"] != date or match["service"] != "sms":
            raise Refused(200, "AuthFailure.SignatureFailure", "Credential scope is invalid.")
        signed = match["signed"].split(";")
        if not {"content-type", "host"} <= set(signed):
            raise Refused(200, "AuthFailure.SignatureFailure", "content-type and host unsigned.")
        canonical_headers = "".join(f"{h}:{headers[h].strip().lower()}\n" for h in signed)
        canonical = "\n".join(
            [
                method,
                path,
                "",
                canonical_headers,
                ";".join(signed),
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/sms/tc3_request"
        to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                str(timestamp),
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = _hmac(("TC3" + secret).encode(), date)
        key = _hmac(_hmac(key, "sms"), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["signature"]):
            raise Refused(
                200,
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. "
                "Please check your signature is correct.",
            )

    # -- helpers -------------------------------------------------------------------------

    def _next_refusal(self) -> Refusal | None:
        with self.lock:
            return self.script.pop(0) if self.script else None

    def _record(self, request: SmsRequest) -> None:
        with self.lock:
            self.requests.append(request)


def _check_send_sms_aliyun(query: dict[str, str]) -> None:
    # The action and version travel as signed headers in ACS3 (checked with them).
    for name in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not query.get(name):
            raise Refused(400, f"Missing{name}", f"{name} is mandatory for this action.")
    if "TemplateParam" in query:
        try:
            params = json.loads(query["TemplateParam"])
        except ValueError:
            params = None
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise Refused(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")


def _check_send_sms_tencent(headers: dict[str, str], params: dict[str, Any]) -> None:
    if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
        raise Refused(200, "InvalidAction", "The action or version does not exist.")
    if not headers.get("x-tc-region"):
        raise Refused(200, "MissingParameter", "The region is missing.")
    phones = params.get("PhoneNumberSet")
    if not isinstance(phones, list) or not phones:
        raise Refused(200, "MissingParameter", "PhoneNumberSet is missing.")
    for name in ("SmsSdkAppId", "TemplateId", "SignName"):
        if not params.get(name):
            raise Refused(200, "MissingParameter", f"{name} is missing.")
    values = params.get("TemplateParamSet", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Refused(200, "InvalidParameterValue", "TemplateParamSet must be strings.")


def _rfc3986(value: str) -> str:
    return quote(value, safe="~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def handler(vendor: SmsVendor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if "x-acs-action" in headers:
                if headers["x-acs-action"] != "SendSms" or headers.get("x-acs-version") != (
                    "2017-05-25"
                ):
                    status, payload = 400, {"Code": "InvalidAction.NotFound", "Message": "?"}
                else:
                    status, payload = vendor.aliyun("POST", self.path, headers, body)
            else:
                status, payload = vendor.tencent("POST", self.path, headers, body)
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            # Tencent's SDK reads errors only from exactly this content type.
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
