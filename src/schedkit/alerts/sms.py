"""SMS channels: Alibaba Cloud SMS and Tencent Cloud SMS, through their official SDKs.

An SMS is a template the vendor approved, sent under an approved signature with
parameters. schedkit fills each parameter from the alert's short fields (``{task}``,
``{kind}``, ``{message}`` ...: :data:`~schedkit.alerts.config.TEMPLATE_FIELDS`), makes it
fit what carriers accept (one line, no links, no 【】, at most ``max_param_length``
characters) and sends one request per message to the channel's phones.

The SDKs are optional extras (``schedkit[sms-aliyun]``, ``schedkit[sms-tencent]``),
imported at the first check or send; a missing one is reported by ``problems()`` so the
monitor refuses to start with a channel that could never send. Every string setting may
name environment variables (``${NAME}``), read at each send; the values found are
secrets to mask in logs and errors. Phone numbers in error texts are shown masked.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import json
import re
from collections.abc import Mapping
from typing import Any

from schedkit.alerts.backends import Backend, ChannelBackend, Delivery
from schedkit.alerts.config import (
    PHONE_NUMBER,
    TEMPLATE_FIELDS,
    AliyunSmsSettings,
    SmsSettings,
    TencentSmsSettings,
)
from schedkit.alerts.env import expand_url
from schedkit.alerts.messages import Message
from schedkit.errors import ConfigError
from schedkit.redaction import RedactingFilter, redact, remember_secrets

#: Links are not allowed in template variables (both vendors' template rules); a URL in
#: an error message is replaced by its scheme (``mongodb://app:***@db:27017`` → ``mongodb``).
_URL = re.compile(r"\b([a-z][a-z0-9+.\-]*)://\S+", re.IGNORECASE)
#: Query strings in the SDKs' network errors carry the phone numbers and parameters.
_QUERY = re.compile(r"\?[^\s'\"]+")
#: Longest error text kept in health records and logs.
ERROR_LIMIT = 300


def sms_backend(
    channel: SmsSettings,
    environ: Mapping[str, str],
    timeout: float,
    secret_filter: RedactingFilter,
) -> ChannelBackend:
    if isinstance(channel, AliyunSmsSettings):
        return AliyunSms(channel, environ, timeout, secret_filter)
    return TencentSms(channel, environ, timeout, secret_filter)


def template_value(template: str, message: Message, limit: int) -> str:
    """``template`` (e.g. ``"{task}: {kind}"``) filled from ``message`` and made fit for
    an SMS template variable of at most ``limit`` characters."""
    values = dict.fromkeys(TEMPLATE_FIELDS, "")
    # Messages not rendered from an alert (e.g. notices) carry no fields: their title
    # stands in for the message.
    values.update(title=message.title, message=message.title)
    values.update(message.fields)
    text = " ".join(template.format_map(values).split())
    text = _URL.sub(lambda m: m.group(1), text)
    # 【】 enclose the signature in a Chinese SMS; carriers reject a second pair.
    text = text.replace("【", "[").replace("】", "]")
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def mask_phone(phone: str) -> str:
    """``+8613800138000`` → ``+86138****8000`` (for logs and health records)."""
    return phone[:-8] + "****" + phone[-4:] if len(phone) > 8 else "****"


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """``host`` → (``https``, host); ``http://host:port`` → (``http``, ``host:port``)."""
    if "://" not in endpoint:
        return "https", endpoint.rstrip("/")
    scheme, rest = endpoint.split("://", 1)
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ConfigError(f"endpoint {endpoint!r} must be a host name or http(s)://host[:port]")
    return scheme.lower(), rest.strip("/")


class _SmsBackend(Backend[SmsSettings], abc.ABC):
    """Expansion, checks and error handling shared by both vendors."""

    #: The SDK module imported to send, the extra that installs it, the vendor's name.
    sdk_module: str
    extra: str
    vendor: str

    def problems(self) -> list[str]:
        problems = []
        try:
            importlib.import_module(self.sdk_module)
        except ImportError:
            problems.append(
                f"type {self.channel.type} needs the {self.vendor} SMS SDK, which is not "
                f"installed: pip install 'schedkit[{self.extra}]'"
            )
        try:
            settings, secrets = self._expand()
            split_endpoint(settings.endpoint)
        except ConfigError as exc:
            return [*problems, str(exc)]
        remember_secrets(secrets)
        problems += [
            f"phones: {mask_phone(p)} is not a phone number (digits, optional leading +)"
            for p in settings.phones
            if not PHONE_NUMBER.match(p)
        ]
        return problems

    def secrets(self) -> list[str]:
        return self._expand()[1]

    def destination(self) -> str:
        return self.channel.type

    def send(self, message: Message, delivery: Delivery) -> tuple[bool, str]:
        try:
            settings, secrets = self._expand()
        except ConfigError as exc:
            return False, str(exc)
        remember_secrets(secrets)
        phones = [p for p in settings.phones if p not in delivery.reached]
        if not phones:
            return True, ""
        try:
            failures = self._send(settings, phones, message, delivery)
        except ImportError:
            return False, f"the {self.vendor} SMS SDK is not installed (schedkit[{self.extra}])"
        except Exception as exc:  # the SDKs raise their own types for vendor and network errors
            failures = [_describe(exc)]
        if failures:
            text = _QUERY.sub("?…", "; ".join(failures))
            for phone in settings.phones:
                text = text.replace(phone, mask_phone(phone))
            return False, redact(text, secrets, ERROR_LIMIT)
        return True, ""

    @abc.abstractmethod
    def _send(
        self, settings: Any, phones: list[str], message: Message, delivery: Delivery
    ) -> list[str]:
        """One SendSms call; adds the phones reached to ``delivery.reached`` and returns
        the vendor's failures (empty: every phone was reached). Raises on errors the SDK
        raises (network, authentication, vendor errors)."""

    def _expand(self) -> tuple[Any, list[str]]:
        """The channel with every ``${NAME}`` in its settings filled in, and the values."""
        secrets: list[str] = []

        def fill(value: str) -> str:
            text, found = expand_url(value, self.environ, raw=True)
            secrets.extend(found)
            return text

        changes: dict[str, Any] = {
            key: fill(value)
            for key, value in self.channel
            if isinstance(value, str) and key not in ("name", "type")
        }
        changes["phones"] = [fill(p) for p in self.channel.phones]
        return self.channel.model_copy(update=changes), secrets


class AliyunSms(_SmsBackend):
    """Alibaba Cloud ``SendSms`` (signed ACS3-HMAC-SHA256 by the SDK)."""

    sdk_module = "alibabacloud_dysmsapi20170525.client"
    extra = "sms-aliyun"
    vendor = "Alibaba Cloud"
    #: The SDK's HTTP layer; their debug lines show request URLs and headers.
    loggers: tuple[str, ...] = ("darabonba-core", "alibabacloud-tea", "urllib3.connectionpool")

    def _send(
        self, settings: AliyunSmsSettings, phones: list[str], message: Message, delivery: Delivery
    ) -> list[str]:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest
        from alibabacloud_tea_openapi.models import Config

        protocol, host = split_endpoint(settings.endpoint)
        milliseconds = int(self.timeout * 1000)
        client = Client(
            Config(
                access_key_id=settings.access_key_id,
                access_key_secret=settings.access_key_secret,
                endpoint=host,
                protocol=protocol,
                connect_timeout=milliseconds,
                read_timeout=milliseconds,
            )
        )
        params = {
            key: template_value(template, message, settings.max_param_length)
            for key, template in settings.template_params.items()
        }
        body = client.send_sms(
            SendSmsRequest(
                phone_numbers=",".join(phones),
                sign_name=settings.sign_name,
                template_code=settings.template_code,
                template_param=json.dumps(params, ensure_ascii=False) if params else None,
            )
        ).body
        # A request is accepted or refused as a whole ("OK" or an error code such as
        # isv.BUSINESS_LIMIT_CONTROL, with HTTP 200).
        if body.code == "OK":
            delivery.reached.update(phones)
            return []
        return [f"{body.code}: {body.message} (RequestId {body.request_id})"]


class TencentSms(_SmsBackend):
    """Tencent Cloud ``SendSms`` 2021-01-11 (signed TC3-HMAC-SHA256 by the SDK)."""

    sdk_module = "tencentcloud.sms.v20210111.sms_client"
    extra = "sms-tencent"
    vendor = "Tencent Cloud"
    #: The SDK logs each request (headers with the SecretId) at debug level.
    loggers: tuple[str, ...] = ("tencentcloud_sdk_common", "urllib3.connectionpool")

    def _send(
        self, settings: TencentSmsSettings, phones: list[str], message: Message, delivery: Delivery
    ) -> list[str]:
        from tencentcloud.common.credential import Credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111.models import SendSmsRequest
        from tencentcloud.sms.v20210111.sms_client import SmsClient

        protocol, host = split_endpoint(settings.endpoint)
        client = SmsClient(
            Credential(settings.secret_id, settings.secret_key),
            settings.region,
            ClientProfile(
                httpProfile=HttpProfile(protocol=protocol, endpoint=host, reqTimeout=self.timeout)
            ),
        )
        request = SendSmsRequest()
        request.PhoneNumberSet = phones
        request.SmsSdkAppId = settings.sdk_app_id
        request.SignName = settings.sign_name
        request.TemplateId = settings.template_id
        request.TemplateParamSet = [
            template_value(template, message, settings.max_param_length)
            for template in settings.template_params
        ]
        try:
            response = client.SendSms(request)
        finally:
            # The SDK opens a requests session per client and never closes it; this client
            # is used once, so its kept-alive connection is closed now, not at GC. (A
            # future SDK without that attribute must not turn a sent SMS into a failure.)
            with contextlib.suppress(AttributeError):
                client.request.conn._session.close()
        # One status per phone: some can be refused (e.g. a daily limit) while the
        # others are sent.
        failures = []
        for status in response.SendStatusSet or ():
            phone = _configured(phones, str(status.PhoneNumber or ""))
            if status.Code == "Ok":
                delivery.reached.add(phone)
            else:
                failures.append(f"{mask_phone(phone)}: {status.Code}: {status.Message}")
        missing = [p for p in phones if p not in delivery.reached]
        if not failures and missing:
            failures.append(f"no send status for {', '.join(mask_phone(p) for p in missing)}")
        return failures


def _configured(phones: list[str], answered: str) -> str:
    """The configured number the vendor's (E.164, ``+86...``) number stands for."""
    digits = answered.lstrip("+")
    for phone in phones:
        mine = phone.lstrip("+")
        if digits.endswith(mine) or mine.endswith(digits):
            return phone
    return answered


def _describe(exc: BaseException) -> str:
    """A vendor error as ``Code: message``, anything else as ``Type: text``.

    Both SDKs raise exceptions carrying the vendor's ``code`` and ``message`` for API
    errors (e.g. ``SignatureDoesNotMatch``, ``AuthFailure.SignatureFailure``); Alibaba
    Cloud's wraps network errors (``inner_exception``), Tencent's gives them a code
    (``ClientNetworkError``)."""
    inner = getattr(exc, "inner_exception", None)
    if isinstance(inner, BaseException):
        return _describe(inner)
    code = getattr(exc, "code", None)
    text = getattr(exc, "message", None) or str(exc)
    if code:
        return f"{code}: {' '.join(str(text).split())}"
    return f"{type(exc).__name__}: {' '.join(str(text).split())}"
