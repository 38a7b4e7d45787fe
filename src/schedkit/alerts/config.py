"""The real shape of the ``[alerts]`` configuration section.

``schedkit.config_sections.AlertsConfig`` accepts extra fields; :meth:`AlertsSettings.from_config`
validates them into the models below. Secrets never sit in the file: channel URLs and SMS
keys name environment variables as ``${NAME}`` (see :mod:`schedkit.alerts.env`). A
channel is an apprise URL string or a table whose ``type`` selects the model:
:class:`ChannelSettings` (absent / ``apprise``), :class:`AliyunSmsSettings`,
:class:`TencentSmsSettings`.

The design document's own shape (``"channels": ["email", "webhook"]`` with ``"email"`` and
``"webhook"`` sections) is accepted too: :mod:`schedkit.alerts.document` translates it.

Example (TOML)::

    [alerts]
    enabled = true
    language = "zh"
    channels = ["dingtalk://${DINGTALK_SECRET}@${DINGTALK_TOKEN}/", "wecombot://${WECOM_KEY}"]

    [alerts.rules]
    too_long = 3600
    reminder_interval = 3600

    [alerts.tasks.report_daily]
    consecutive_failures = 3
    failed = false
"""

from __future__ import annotations

import enum
import logging
import re
import string
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schedkit._suggest import error_message, unknown_timezone
from schedkit.alerts import document, url_secrets
from schedkit.alerts.env import env_names
from schedkit.alerts.markdown import destination_of
from schedkit.errors import ConfigError

if TYPE_CHECKING:
    from schedkit.config import SchedkitConfig


logger = logging.getLogger(__name__)


class AlertKind(enum.StrEnum):
    """What an alert is about."""

    FAILED = "failed"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    TOO_LONG = "too_long"
    MISSED = "missed"
    LATE = "late"
    RECOVERED = "recovered"
    #: A coming year of a calendar schedules use that no source confirms.
    CALENDAR = "calendar_unconfirmed"
    #: A test message an operator asked for (``POST /alerts/test``, ``schedkit alerts
    #: test``); no rule raises it (see :mod:`schedkit.alerts.probe`).
    TEST = "test"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSet(_Model):
    """The alert rules of a task (global defaults, overridden per task).

    Every rule alerts on a *change of state*, never on every run: see docs/monitoring.md.
    """

    #: Alert when a run ends failed / timeout / lost after its last retry (once per
    #: failure streak).
    failed: bool = True
    #: Alert (again, as an escalation) when this many runs in a row failed; 0 = off.
    consecutive_failures: int = Field(0, ge=0)
    #: Alert when a run has been running longer than this many seconds (checked while it
    #: runs, and at its end); 0 = off. The design document's default: 3600 s.
    too_long: float = Field(3600.0, ge=0)
    #: Alert when a fire is missed (misfire grace exceeded, e.g. after downtime) or
    #: skipped by the overlap policy or for an unregistered task.
    missed: bool = True
    #: Alert when a run has not started within its grace time.
    late: bool = True
    #: Grace time for ``late`` in seconds; None: the schedule's ``misfire_grace_time``
    #: (manual runs and schedules without one: 300 s).
    late_after: float | None = Field(None, gt=0)
    #: Alert when a task succeeds again after an alerted failure.
    recovered: bool = True
    #: Alert once per calendar and year when a coming year of a business calendar that
    #: schedules use is not confirmed ("calendar cn_workdays for 2027 not confirmed"), or
    #: a calendar they name is missing. Read from the global rules only.
    calendar: bool = True
    #: While a condition stays open, remind every this many seconds; 0 = never.
    reminder_interval: float = Field(0.0, ge=0)
    #: Names of the channels this task's alerts go to; None: every channel.
    channels: list[str] | None = None


class RuleOverride(_Model):
    """Per-task changes to :class:`RuleSet`; fields left out keep the global value."""

    failed: bool | None = None
    consecutive_failures: int | None = Field(None, ge=0)
    too_long: float | None = Field(None, ge=0)
    missed: bool | None = None
    late: bool | None = None
    late_after: float | None = Field(None, gt=0)
    recovered: bool | None = None
    reminder_interval: float | None = Field(None, ge=0)
    channels: list[str] | None = None

    def apply(self, base: RuleSet) -> RuleSet:
        changes = self.model_dump(exclude_unset=True)
        return base.model_copy(update=changes) if changes else base


#: Placeholders SMS template parameters may use (filled from the alert; see
#: :func:`schedkit.alerts.messages.render`).
TEMPLATE_FIELDS = frozenset(
    {"task", "kind", "severity", "run_id", "run", "message", "count", "time", "title"}
)

#: A phone number as the SMS APIs take it: digits, optionally E.164's leading ``+``.
PHONE_NUMBER = re.compile(r"^\+?[0-9]{5,20}$")


class _Channel(_Model):
    """What every channel has: a name for routing and a filter on alert kinds."""

    #: Name used in per-task routing, logs, metrics and status (default: the URL scheme
    #: or the SMS type, with ``-2``, ``-3`` ... for repeats).
    name: str | None = None
    #: Only these alert kinds go to this channel (default: all).
    kinds: list[AlertKind] | None = None

    @field_validator("kinds")
    @classmethod
    def _no_test_kind(cls, value: list[AlertKind] | None) -> list[AlertKind] | None:
        if value is not None and AlertKind.TEST in value:
            raise ValueError(
                "'test' is not a kind to filter on: a test message goes to the channels "
                "it is asked for, whatever their kinds"
            )
        return value


class ChannelSettings(_Channel):
    """One alert destination: an apprise URL, optionally named and filtered."""

    type: Literal["apprise"] = "apprise"
    url: str
    #: Message format; default: Markdown for e-mail and the chat apps that render it
    #: (:attr:`schedkit.alerts.markdown.Destination.markdown`), text otherwise.
    format: Literal["text", "markdown"] | None = None

    @field_validator("url")
    @classmethod
    def _has_scheme(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(
                "must be an apprise URL such as dingtalk://TOKEN/ or mailtos://... (or one "
                f"of the design document's channel names: {', '.join(document.DOCUMENT_CHANNELS)},"
                " described in a section of that name)"
            )
        return value

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower() or self.url.split("://", 1)[0].lower()

    @property
    def body_format(self) -> Literal["text", "markdown"]:
        if self.format is not None:
            return self.format
        return "markdown" if destination_of(self.scheme).markdown else "text"


class _SmsChannel(_Channel):
    """An SMS template sent to a list of phones through a vendor's SDK."""

    #: ``aliyun_sms`` or ``tencent_sms`` (each subclass narrows it to its literal).
    type: str
    #: The approved signature (签名), without 【】.
    sign_name: str = Field(min_length=1)
    #: Recipients (``${NAME}`` allowed); a rule reaches another list through another
    #: channel (see docs/monitoring.md).
    phones: list[str] = Field(min_length=1)
    #: API host, or ``http://host:port`` for a local stand-in of the vendor (tests).
    endpoint: str
    #: Longest value of one template parameter; longer values are cut, ending in "…".
    max_param_length: int = Field(ge=2)

    @property
    def scheme(self) -> str:
        return self.type

    @property
    def body_format(self) -> Literal["text", "markdown"]:
        return "text"

    @field_validator("phones")
    @classmethod
    def _phone_numbers(cls, value: list[str]) -> list[str]:
        for phone in value:
            if not env_names(phone) and not PHONE_NUMBER.match(phone):
                raise ValueError(f"{phone!r} is not a phone number (digits, optional leading +)")
        return value


def _known_placeholders(value: str) -> str:
    # A malformed text ("{task") raises ValueError here, which pydantic reports.
    names = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    unknown = sorted({n for n in names if n not in TEMPLATE_FIELDS})
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}} (known: {', '.join(sorted(TEMPLATE_FIELDS))})"
        )
    return value


def _from_environment(value: str) -> str:
    if not env_names(value):
        raise ValueError(
            "must name an environment variable as ${NAME}; secrets never sit in the file"
        )
    return value


#: A secret: only ``${NAME}`` references are accepted.
EnvSecret = Annotated[str, AfterValidator(_from_environment)]
#: A template parameter's text, with placeholders from TEMPLATE_FIELDS.
ParamTemplate = Annotated[str, AfterValidator(_known_placeholders)]


class AliyunSmsSettings(_SmsChannel):
    """Alibaba Cloud SMS (短信服务, API ``SendSms`` 2017-05-25)."""

    type: Literal["aliyun_sms"]
    access_key_id: EnvSecret
    access_key_secret: EnvSecret
    #: The approved template, e.g. ``SMS_123456789``.
    template_code: str = Field(min_length=1)
    #: Template variable → text with placeholders, e.g. ``{task = "{task}"}``.
    template_params: dict[str, ParamTemplate] = Field(default_factory=dict)
    endpoint: str = "dysmsapi.aliyuncs.com"
    #: Alibaba Cloud allows 35 characters per variable of a notification template.
    max_param_length: int = Field(35, ge=2)


class TencentSmsSettings(_SmsChannel):
    """Tencent Cloud SMS (短信, API ``SendSms`` 2021-01-11)."""

    type: Literal["tencent_sms"]
    secret_id: EnvSecret
    secret_key: EnvSecret
    #: The SMS application's SdkAppId, e.g. ``1400006666``.
    sdk_app_id: str = Field(min_length=1)
    template_id: str = Field(min_length=1)
    #: Template parameters {1}, {2}, ... in order, as texts with placeholders.
    template_params: list[ParamTemplate] = Field(default_factory=list)
    region: str = "ap-guangzhou"
    endpoint: str = "sms.tencentcloudapi.com"
    #: Tencent Cloud allows 12 characters per variable on personally verified accounts
    #: (enterprise accounts: no per-variable limit).
    max_param_length: int = Field(12, ge=2)


SmsSettings = AliyunSmsSettings | TencentSmsSettings
#: Any channel table; ``type`` tells them apart (absent: an apprise URL).
AnyChannel = Annotated[
    ChannelSettings | AliyunSmsSettings | TencentSmsSettings, Field(discriminator="type")
]


class DeliverySettings(_Model):
    """How messages leave: off the run path, with timeout, retries and a throttle."""

    #: Seconds one send attempt may take (connect + read); then it counts as failed.
    timeout: float = Field(10.0, gt=0)
    #: Extra attempts after a failed send.
    retries: int = Field(2, ge=0)
    #: Seconds before the first retry; doubles on each further retry.
    retry_delay: float = Field(2.0, ge=0)
    #: Messages per channel per ``throttle_window``; over it they are held back and
    #: summarised in one message when the window frees up. 0 = no throttle.
    throttle_per_minute: int = Field(20, ge=0)
    #: Length of the throttle window in seconds (60 in production; shorter in tests).
    throttle_window: float = Field(60.0, gt=0)
    #: Consecutive failed deliveries after which a channel is reported unhealthy.
    unhealthy_after: int = Field(3, ge=1)
    #: Messages waiting per channel; beyond it the oldest are dropped (and counted).
    queue_size: int = Field(1000, ge=1)
    #: Seconds between the end of a channel's test message and the next one a node
    #: takes (it takes one at a time): an operator may not page people at will.
    test_interval: float = Field(10.0, ge=0)


class AlertsSettings(_Model):
    """The validated ``[alerts]`` section."""

    enabled: bool = False
    channels: list[AnyChannel] = Field(default_factory=list)
    language: Literal["zh", "en"] = "zh"
    #: Time zone of times in messages (default: the top-level ``timezone``).
    timezone: str = "Asia/Shanghai"
    #: Console base URL for run links (default: ``api.base_url``); no link when unset.
    base_url: str | None = None
    #: Link to a run; ``{base_url}``, ``{run_id}`` and ``{task_name}`` are filled in.
    link_template: str = "{base_url}/runs/{run_id}"
    rules: RuleSet = Field(default_factory=RuleSet)
    #: Per-task rule overrides, keyed by task name.
    tasks: dict[str, RuleOverride] = Field(default_factory=dict)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    #: Seconds between the monitor's periodic work: ``too_long`` / ``late`` checks (on the
    #: scheduler leader only) and sampling of store-wide gauges.
    check_interval: float = Field(5.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _document_shape(cls, data: Any, info: ValidationInfo) -> Any:
        """The design document's named channels and their sections, as channels; a
        warning for each secret written in the file (channel URLs included)."""
        if not isinstance(data, dict):
            return data
        warnings = url_secrets.channels_warnings(data)
        if document.is_document_shape(data):
            data, more = document.translate(data)
            warnings += more
        if (info.context or {}).get("warn", True):
            for warning in warnings:
                logger.warning("%s", warning)
        return data

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_channel_table(v) for v in value]
        return value

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, value: list[AnyChannel]) -> list[AnyChannel]:
        seen: dict[str, int] = {}
        named: list[AnyChannel] = []
        explicit = [c.name for c in value if c.name]
        if len(explicit) != len(set(explicit)):
            dup = next(n for n in explicit if explicit.count(n) > 1)
            raise ValueError(f"channel name {dup!r} is used twice")
        for channel in value:
            if channel.name:
                named.append(channel)
                continue
            base = channel.scheme
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}-{seen[base]}"
            while name in explicit:
                seen[base] += 1
                name = f"{base}-{seen[base]}"
            named.append(channel.model_copy(update={"name": name}))
        return named

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(unknown_timezone(value)) from None
        return value

    @model_validator(mode="after")
    def _routes_exist(self) -> Self:
        names = {c.name for c in self.channels}
        routes = [("rules", self.rules.channels)] + [
            (f"tasks.{task}", o.channels) for task, o in self.tasks.items()
        ]
        for where, wanted in routes:
            for name in wanted or ():
                if name not in names:
                    raise ValueError(
                        f"{where}.channels: no channel named {name!r} "
                        f"(channels: {', '.join(sorted(n for n in names if n)) or 'none'})"
                    )
        return self

    @property
    def active(self) -> bool:
        """Alerts are sent only when enabled and at least one channel is configured."""
        return self.enabled and bool(self.channels)

    def rules_for(self, task_name: str, task_rules: RuleOverride | None = None) -> RuleSet:
        """Global rules, then the task class's ``alert_rules``, then ``[alerts.tasks.X]``."""
        rules = self.rules
        if task_rules is not None:
            rules = task_rules.apply(rules)
        override = self.tasks.get(task_name)
        return override.apply(rules) if override is not None else rules

    @classmethod
    def parse(cls, data: dict[str, Any], where: str = "alerts", *, warn: bool = True) -> Self:
        """Validate ``data``; raise ConfigError naming every bad key under ``where``.
        ``warn``: log what should change (a password written in the file)."""
        try:
            return cls.model_validate(data, context={"warn": warn})
        except ValidationError as exc:
            raise ConfigError(_format(exc, where, cls)) from None

    @classmethod
    def from_config(cls, config: SchedkitConfig, *, warn: bool = True) -> Self:
        """Read ``config.alerts`` (and default the time zone and base URL from the rest)."""
        data = config.alerts.model_dump()
        data.setdefault("timezone", None)
        if data["timezone"] is None:
            data["timezone"] = config.timezone
        if data.get("base_url") is None:
            data["base_url"] = config.api.base_url
        return cls.parse(data, warn=warn)


def config_warnings(config: SchedkitConfig) -> list[str]:
    """What should change in ``config.alerts`` although it works (``schedkit check``)."""
    data = config.alerts.model_dump()
    warnings = url_secrets.channels_warnings(data)
    return warnings + (document.translate(data)[1] if document.is_document_shape(data) else [])


def _channel_table(value: Any) -> Any:
    """A plain string is an apprise URL; a table without ``type`` is one too."""
    if isinstance(value, str):
        return {"type": "apprise", "url": value}
    if isinstance(value, dict) and "type" not in value:
        return {"type": "apprise", **value}
    return value


def parse_task_rules(value: Any, task_name: str) -> RuleOverride | None:
    """A task class's optional ``alert_rules`` attribute (a dict of RuleOverride fields)."""
    if value is None:
        return None
    if isinstance(value, RuleOverride):
        return value
    try:
        return RuleOverride.model_validate(value)
    except ValidationError as exc:
        raise ConfigError(_format(exc, f"{task_name}.alert_rules", RuleOverride)) from None


def _format(exc: ValidationError, where: str, model: type[BaseModel]) -> str:
    """Every error of ``exc``, raised validating ``model``, as ``<where>.<key>: ...``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in _without_channel_type(err["loc"]))
        shape = err.get("ctx", {}).get("error")
        message = error_message(err, model)  # an unknown key: the ones meant
        if not loc and isinstance(shape, document.DocumentShapeError):
            parts.append(str(shape))  # names its own key (alerts.email.recipients: ...)
        else:
            parts.append(f"{where}.{loc}: {message}" if loc else f"{where}: {message}")
    return "; ".join(parts)


def _without_channel_type(loc: tuple[int | str, ...]) -> list[int | str]:
    """pydantic puts the channel's ``type`` in the path (``channels.0.apprise.url``); the
    user wrote ``channels[0].url``."""
    return [
        p
        for i, p in enumerate(loc)
        if not (i >= 2 and loc[i - 2] == "channels" and isinstance(loc[i - 1], int))
    ]
