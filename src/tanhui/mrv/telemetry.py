"""Live meter telemetry over MQTT: payloads parsed into readings, stored in the lake, acknowledged once durable."""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import polars as pl

from tanhui.errors import BadInput, BrokerUnavailable, InvalidRequest, TelemetryRejected
from tanhui.mrv import dlt645
from tanhui.mrv.frames import LOCAL_TIMEZONE
from tanhui.mrv.readings import SCHEMA, check_readings

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from tanhui.mrv.lake import Lake

log = logging.getLogger(__name__)

TOPIC_FILTER = "tanhui/meters/+/readings"
DEFAULT_CLIENT_ID = "tanhui-mrv-listen"
# A batch is stored when it holds this many messages or its first message is this old, whichever comes first:
# large enough that one fsynced ingest serves hundreds of readings, short enough that operators see data live.
BATCH_SIZE = 500
BATCH_SECONDS = 2.0
# MQTT v5 "session never expires": readings published while the listener is down wait in the broker for it.
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
# Receive Maximum is a 16-bit field; the broker keeps at most this many messages unacknowledged in flight to us.
_RECEIVE_MAXIMUM_LIMIT = 65_535
# How often the storing loop looks at the stop flag while waiting for messages.
_POLL_SECONDS = 0.2
_PAYLOAD_KEYS = frozenset({"ts", "kwh", "register_kwh", "meter_id", "frame"})




# ---------------------------------------------------------------- payloads (pure)

@dataclass(frozen=True)
class Reading:
    """One meter reading as telemetry carries it: energy in the interval starting at ts, or the register at ts."""

    meter_id: str
    ts: datetime  # UTC
    kwh: float | None
    register_kwh: float | None


@dataclass(frozen=True)
class ParsedMessage:
    """The readings of one message, and how many of its timestamps had no offset (read as local time)."""

    readings: tuple[Reading, ...]
    naive_timestamps: int


def meter_from_topic(topic: str, topic_filter: str = TOPIC_FILTER) -> str | None:
    """The meter id a topic names: the level the filter's first ``+`` matches; None when the filter has no ``+``."""
    levels = topic_filter.split("/")
    if "+" not in levels:
        return None
    index = levels.index("+")
    parts = topic.split("/")
    if index >= len(parts) or not parts[index].strip():
        raise TelemetryRejected(f"topic {topic!r} has no meter id where {topic_filter!r} has '+'")
    return parts[index]


def parse_payload(topic: str, payload: bytes, *, topic_filter: str = TOPIC_FILTER) -> ParsedMessage:
    """Readings from one message: a JSON object or an array of them, each ``{"ts", "kwh" | "register_kwh" | "frame"}``.

    ``ts`` is ISO 8601 (an offset is converted to UTC; without one it is Asia/Shanghai local time) or Unix seconds.
    The meter is the topic's ``+`` level; a payload's ``meter_id`` (or a DL/T 645 frame's address) must agree with it.
    Raises `TelemetryRejected` naming what is wrong; a message is taken whole or not at all.
    """
    topic_meter = meter_from_topic(topic, topic_filter)
    try:
        document = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TelemetryRejected(f"payload is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise TelemetryRejected(f"payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    items = document if isinstance(document, list) else [document]
    if not items:
        raise TelemetryRejected("payload is an empty array: no readings")
    readings: list[Reading] = []
    naive = 0
    for position, item in enumerate(items):
        where = f"reading {position}: " if isinstance(document, list) else ""
        try:
            reading, was_naive = _reading(item, topic_meter)
        except TelemetryRejected as exc:
            raise TelemetryRejected(where + exc.detail) from exc
        readings.append(reading)
        naive += was_naive
    return ParsedMessage(tuple(readings), naive)


def _reading(item: Any, topic_meter: str | None) -> tuple[Reading, bool]:
    if not isinstance(item, dict):
        raise TelemetryRejected(f"expected a JSON object, got {type(item).__name__}")
    unknown = sorted(set(item) - _PAYLOAD_KEYS)
    if unknown:
        raise TelemetryRejected(f"unknown field(s) {', '.join(unknown)}; expected ts with kwh, register_kwh or frame")
    values = [key for key in ("kwh", "register_kwh", "frame") if key in item]
    if len(values) != 1:
        raise TelemetryRejected(f"needs exactly one of kwh, register_kwh, frame; has {', '.join(values) or 'none'}")
    if "ts" not in item:
        raise TelemetryRejected("has no ts")
    ts, naive = parse_timestamp(item["ts"])
    meter_id = _agreeing_meter(topic_meter, item.get("meter_id"), "payload meter_id")
    kwh = register_kwh = None
    if "frame" in item:
        frame_meter, register_kwh = _frame_register(item["frame"])
        meter_id = _agreeing_meter(meter_id, frame_meter, "frame address")
    elif "kwh" in item:
        kwh = _energy(item["kwh"], "kwh")
    else:
        register_kwh = _energy(item["register_kwh"], "register_kwh")
    if meter_id is None:
        raise TelemetryRejected("no meter id: the topic filter has no '+' level and the payload has no meter_id")
    return Reading(meter_id, ts, kwh, register_kwh), naive


def parse_timestamp(value: Any) -> tuple[datetime, bool]:
    """A telemetry timestamp in UTC, and whether it was naive (ISO 8601 without offset, read as local time)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TelemetryRejected(f"ts {value!r} is neither an ISO 8601 string nor Unix seconds")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise TelemetryRejected(f"ts {value!r} is not an ISO 8601 timestamp") from exc
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=ZoneInfo(LOCAL_TIMEZONE)).astimezone(UTC), True
        return parsed.astimezone(UTC), False
    try:
        return datetime.fromtimestamp(value, UTC), False
    except (OverflowError, OSError, ValueError) as exc:
        raise TelemetryRejected(f"ts {value!r} is not a usable Unix time") from exc


def _agreeing_meter(known: str | None, other: Any, what: str) -> str | None:
    if other is None:
        return known
    if not isinstance(other, str) or not other.strip():
        raise TelemetryRejected(f"{what} {other!r} is not a meter id")
    if known is not None and other != known:
        raise TelemetryRejected(f"{what} {other!r} disagrees with meter {known!r}")
    return other


def _energy(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TelemetryRejected(f"{name} {value!r} is not a finite number")
    return float(value)


def _frame_register(frame: Any) -> tuple[str, float]:
    """The meter address and forward active energy of a DL/T 645-2007 reply frame given in hex."""
    if not isinstance(frame, str):
        raise TelemetryRejected(f"frame {frame!r} is not a hex string")
    try:
        reply = dlt645.decode_energy_reply(dlt645.parse_hex(frame))
    except dlt645.FrameError as exc:
        raise TelemetryRejected(f"frame is not a DL/T 645-2007 forward active energy reply: {exc}") from exc
    return reply.address, float(reply.kwh)


def readings_frame(readings: Sequence[Reading]) -> pl.DataFrame:
    """Readings as a frame in the lake's reading schema."""
    return pl.DataFrame(
        {
            "meter_id": [r.meter_id for r in readings],
            "ts": [r.ts for r in readings],
            "kwh": [r.kwh for r in readings],
            "register_kwh": [r.register_kwh for r in readings],
        },
        schema=SCHEMA,
    )


# ---------------------------------------------------------------- storing a batch

@dataclass(frozen=True)
class Message:
    """A received telemetry message: where it came from and its bytes."""

    topic: str
    payload: bytes


@dataclass(frozen=True)
class Reject:
    """A message that could not be stored, and why."""

    topic: str
    payload: bytes
    reason: str


@dataclass(frozen=True)
class BatchReport:
    """What storing one batch of messages did."""

    messages: int
    readings: int  # in the messages not rejected: rows_stored + rows_already_stored
    rows_stored: int
    rows_already_stored: int
    naive_timestamps: int
    rejects: tuple[Reject, ...]
    batch_id: str | None  # the lake's batch, None when nothing new was ingested


class RejectsFile:
    """An append-only JSON-lines file of rejected messages, fsynced before their messages are acknowledged."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        at = datetime.now(UTC).isoformat()
        lines = []
        for reject in rejects:
            record: dict[str, str] = {"time": at, "topic": reject.topic, "reason": reject.reason}
            try:
                record["payload"] = reject.payload.decode("utf-8")
            except UnicodeDecodeError:  # keep the bytes exactly as received
                record["payload_base64"] = base64.b64encode(reject.payload).decode("ascii")
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as out:
            out.write("".join(lines))
            out.flush()
            os.fsync(out.fileno())
        if created:  # the new directory entry must be durable too
            descriptor = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)


def store_batch(lake: Lake, messages: Sequence[Message], *, source: str, rejects: RejectsFile,
                topic_filter: str = TOPIC_FILTER, known_meters: Collection[str] | None = None) -> BatchReport:
    """Store a batch of messages durably: their readings in the lake, the unusable ones in the rejects file.

    When this returns every message is either stored or rejected, durably, so all may be acknowledged. A message
    is rejected when it does not parse, names a meter not in ``known_meters``, or breaks the lake's rules for
    readings (`readings.check_readings`); a bad message never holds back the good ones of its batch.
    """
    known = frozenset(known_meters) if known_meters is not None else None
    refused: list[Reject] = []
    parsed: list[tuple[Message, ParsedMessage]] = []
    for message in messages:
        try:
            result = parse_payload(message.topic, message.payload, topic_filter=topic_filter)
        except TelemetryRejected as exc:
            refused.append(Reject(message.topic, message.payload, exc.detail))
            continue
        unknown = sorted({r.meter_id for r in result.readings} - known) if known is not None else []
        if unknown:
            refused.append(Reject(message.topic, message.payload, f"unknown meter(s) {', '.join(unknown)}"))
            continue
        parsed.append((message, result))
    frame = readings_frame([r for _, result in parsed for r in result.readings])
    if frame.height:
        try:  # the rules every stored reading obeys (15-minute boundaries, sane values), checked once for the batch
            check_readings(frame, source)
        except BadInput:
            parsed = _keep_valid(parsed, refused)
            frame = readings_frame([r for _, result in parsed for r in result.readings])
    stored = already = 0
    batch_id: str | None = None
    if frame.height:
        # The checks above are the lake's own (readings and known meters), so it takes these readings whole. It
        # counts a reading repeated within the batch (a message delivered twice) as already stored.
        outcome = lake.ingest(frame, source=source, known_meters=known)
        stored, already, batch_id = outcome.rows_stored, outcome.rows_already_stored, outcome.batch_id
    rejects.append(refused)
    return BatchReport(
        messages=len(messages), readings=frame.height, rows_stored=stored, rows_already_stored=already,
        naive_timestamps=sum(result.naive_timestamps for _, result in parsed), rejects=tuple(refused),
        batch_id=batch_id,
    )


def _keep_valid(parsed: list[tuple[Message, ParsedMessage]],
                refused: list[Reject]) -> list[tuple[Message, ParsedMessage]]:
    """The messages whose readings pass the lake's checks; the others go to ``refused`` with the reason."""
    valid = []
    for message, result in parsed:
        try:
            check_readings(readings_frame(result.readings), "the message")  # its readings are rows 1, 2, ...
        except BadInput as exc:
            refused.append(Reject(message.topic, message.payload, exc.detail))
        else:
            valid.append((message, result))
    return valid


# ---------------------------------------------------------------- the MQTT listener

@dataclass(frozen=True)
class Broker:
    """Where the MQTT broker is: ``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
            raise InvalidRequest(f"the MQTT broker URL {url!r} must look like mqtt://host:port or mqtts://host:port")
        try:
            port = parts.port
        except ValueError as exc:
            raise InvalidRequest(f"the MQTT broker URL {url!r} has an invalid port") from exc
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, port or (8883 if tls else 1883), tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def check_topic_filter(topic_filter: str) -> None:
    """Refuse a topic filter MQTT does not allow: wildcards are whole levels, ``#`` only last."""
    levels = topic_filter.split("/")
    wildcard_inside = any(("+" in level or "#" in level) and level not in ("+", "#") for level in levels)
    if not topic_filter or "\0" in topic_filter or wildcard_inside or "#" in levels[:-1]:
        raise InvalidRequest(f"the topic filter {topic_filter!r} is not a valid MQTT filter: '+' and '#' stand for "
                             "whole levels and '#' only as the last one, e.g. tanhui/meters/+/readings")


@dataclass(frozen=True)
class ListenerSettings:
    """How the listener connects and batches."""

    broker: Broker
    topic_filter: str = TOPIC_FILTER
    client_id: str = DEFAULT_CLIENT_ID
    batch_size: int = BATCH_SIZE
    batch_seconds: float = BATCH_SECONDS
    known_meters: frozenset[str] | None = None

    def __post_init__(self) -> None:
        check_topic_filter(self.topic_filter)

    @property
    def source(self) -> str:
        """How the lake's manifest names where these readings came from."""
        return f"{self.broker}/{self.topic_filter} (client {self.client_id})"


@dataclass
class ListenTotals:
    """Counts over one run of the listener."""

    messages: int = 0
    batches: int = 0
    rows_stored: int = 0
    rows_already_stored: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class _Delivery:
    connection: int  # which connection delivered it: packet ids are only meaningful on that connection
    mid: int
    qos: int
    message: Message


@dataclass
class Listener:
    """Subscribes with a persistent session at QoS 1 and acknowledges each message only once it is durable.

    paho's network thread only queues messages; the caller's thread batches them, stores each batch through
    `store_batch` and then acknowledges the batch's messages. Killing the process at any moment therefore loses
    nothing acknowledged: unacknowledged messages stay in the broker's session and are delivered again, and the lake
    drops readings identical to stored ones, so a redelivery changes nothing.
    """

    lake: Lake
    rejects: RejectsFile
    settings: ListenerSettings
    # Called once subscribed, with "the broker kept our session"; it runs on paho's thread, so it must not raise.
    on_ready: Callable[[bool], None] | None = None
    on_batch: Callable[[BatchReport], None] | None = None  # called with each stored batch, on the caller's thread
    totals: ListenTotals = field(default_factory=ListenTotals)
    _inbox: queue.Queue[_Delivery] = field(default_factory=queue.Queue)
    _connection: int = 0
    _session_present: bool = False
    _ready: bool = False  # on_ready was called
    _failure: str | None = None

    def run(self, stop: threading.Event) -> ListenTotals:
        """Listen until ``stop`` is set; then store and acknowledge what was received, and disconnect cleanly."""
        client = self._client()
        broker = self.settings.broker
        try:
            client.connect(broker.host, broker.port, keepalive=60, clean_start=False,
                           properties=self._connect_properties())
        except OSError as exc:
            raise BrokerUnavailable(f"the MQTT broker {broker} is not reachable: {exc}") from exc
        client.loop_start()
        try:
            # Messages of a resumed session may arrive before the subscription is confirmed: take them at once.
            while True:
                self._check_failure()
                batch = self._collect(stop)
                if stop.is_set():  # store what has arrived, so it is acknowledged before we go
                    self._store(client, batch + self._drain())
                    break
                self._store(client, batch)
        finally:
            client.disconnect()
            client.loop_stop()
        return self.totals

    def _client(self) -> mqtt.Client:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.settings.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        broker = self.settings.broker
        if broker.tls:
            client.tls_set()
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        # Room for a full batch being stored while the next one arrives. Without it Mosquitto keeps at most
        # max_inflight_messages (default 20) unacknowledged, which would cap every batch at 20 messages.
        properties.ReceiveMaximum = min(2 * self.settings.batch_size, _RECEIVE_MAXIMUM_LIMIT)
        return properties

    # paho's callbacks run on its network thread: they only record and queue.
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:
        if reason.is_failure:
            self._failure = f"the MQTT broker {self.settings.broker} refused the connection: {reason}"
            return
        self._connection += 1
        log.info("connected to %s as %s (session %s)", self.settings.broker, self.settings.client_id,
                 "resumed" if flags.session_present else "new")
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self._session_present = flags.session_present
        client.subscribe(self.settings.topic_filter, options=SubscribeOptions(qos=1))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        failed = [str(reason) for reason in reasons if reason.is_failure]
        if failed:
            self._failure = f"the MQTT broker refused the subscription to {self.settings.topic_filter}: " \
                            + ", ".join(failed)
        elif not self._ready:
            self._ready = True
            if self.on_ready is not None:
                self.on_ready(self._session_present)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        if reason.is_failure:
            log.warning("lost the MQTT broker %s (%s); reconnecting, unacknowledged messages will come again",
                        self.settings.broker, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Delivery(self._connection, message.mid, message.qos,
                                  Message(message.topic, bytes(message.payload))))

    def _check_failure(self) -> None:
        if self._failure is not None:
            raise BrokerUnavailable(self._failure)

    def _collect(self, stop: threading.Event) -> list[_Delivery]:
        """The next batch: up to batch_size messages, or fewer once the first has waited batch_seconds."""
        batch: list[_Delivery] = []
        deadline: float | None = None
        while len(batch) < self.settings.batch_size and not stop.is_set():
            timeout = _POLL_SECONDS if deadline is None else min(_POLL_SECONDS, deadline - time.monotonic())
            if timeout <= 0:
                break
            try:
                delivery = self._inbox.get(timeout=timeout)
            except queue.Empty:
                continue
            batch.append(delivery)
            if deadline is None:
                deadline = time.monotonic() + self.settings.batch_seconds
        return batch

    def _drain(self) -> list[_Delivery]:
        batch: list[_Delivery] = []
        while True:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                return batch

    def _store(self, client: mqtt.Client, batch: list[_Delivery]) -> None:
        if not batch:
            return
        report = store_batch(self.lake, [d.message for d in batch], source=self.settings.source,
                             rejects=self.rejects, topic_filter=self.settings.topic_filter,
                             known_meters=self.settings.known_meters)
        for reject in report.rejects:
            log.warning("rejected a message on %s: %s", reject.topic, reject.reason)
        # Durable now: acknowledge. paho's ack only queues the PUBACK for its network thread (as publish does), so
        # it is safe from this thread. A message from an earlier connection is not acknowledged: the broker sends
        # it again on the new one, where the lake recognises its readings as already stored.
        current = self._connection
        for delivery in batch:
            if delivery.connection == current:
                client.ack(delivery.mid, delivery.qos)
        self.totals.messages += report.messages
        self.totals.batches += 1
        self.totals.rows_stored += report.rows_stored
        self.totals.rows_already_stored += report.rows_already_stored
        self.totals.rejected += len(report.rejects)
        if self.on_batch is not None:
            self.on_batch(report)
