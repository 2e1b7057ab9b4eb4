"""Live telemetry: payloads, batches and their rejects, and `tanhui mrv listen` on the real Mosquitto, killed too."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import paho.mqtt.client as mqtt
import polars as pl
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from typer.testing import CliRunner

from tanhui.cli.main import app
from tanhui.errors import InvalidRequest
from tanhui.mrv import dlt645
from tanhui.mrv.lake import Lake
from tanhui.mrv.telemetry import (
    Broker,
    ListenerSettings,
    Message,
    RejectsFile,
    TelemetryRejected,
    meter_from_topic,
    parse_payload,
    store_batch,
)
from tests.conftest import IN_CI

MQTT_URL = os.environ.get("TANHUI_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
# Generous bounds for polling conditions on a shared 2-core machine; a passing run takes a few seconds.
WAIT_SECONDS = 60.0
FILTER = "tanhui/meters/+/readings"
UTC_NOON = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def parse(meter: str, document: object) -> list[tuple[str, datetime, float | None, float | None]]:
    message = parse_payload(f"tanhui/meters/{meter}/readings", json.dumps(document).encode())
    return [(r.meter_id, r.ts, r.kwh, r.register_kwh) for r in message.readings]


def rejected(payload: bytes | str, topic: str = "tanhui/meters/M1/readings", topic_filter: str = FILTER) -> str:
    raw = payload.encode() if isinstance(payload, str) else payload
    with pytest.raises(TelemetryRejected) as caught:
        parse_payload(topic, raw, topic_filter=topic_filter)
    return caught.value.detail


def energy_frame(address: str, kwh: str) -> str:
    return dlt645.energy_reply(address, Decimal(kwh)).hex().upper()


# ---------------------------------------------------------------- payloads


def test_a_reading_with_an_offset_is_stored_in_utc_under_the_topics_meter() -> None:
    assert parse("M1", {"ts": "2024-06-01T12:00:00+08:00", "kwh": 1.25}) == [("M1", UTC_NOON, 1.25, None)]
    assert parse("M1", {"ts": "2024-06-01T04:00:00Z", "kwh": 2}) == [("M1", UTC_NOON, 2.0, None)]


def test_naive_timestamps_are_shanghai_time_and_counted() -> None:
    message = parse_payload("tanhui/meters/M2/readings", json.dumps([
        {"ts": "2024-06-01T12:00:00", "register_kwh": 100.5},
        {"ts": "2024-06-01T12:15:00", "register_kwh": 101.0},
        {"ts": "2024-06-01T04:30:00+00:00", "register_kwh": 101.5},
    ]).encode())
    assert [(r.ts, r.register_kwh, r.kwh) for r in message.readings] == [
        (UTC_NOON, 100.5, None), (UTC_NOON + timedelta(minutes=15), 101.0, None),
        (UTC_NOON + timedelta(minutes=30), 101.5, None)]
    assert message.naive_timestamps == 2


def test_unix_seconds_are_utc() -> None:
    assert parse("M1", {"ts": UTC_NOON.timestamp(), "kwh": 0.5}) == [("M1", UTC_NOON, 0.5, None)]


def test_a_payload_meter_id_must_agree_with_the_topic() -> None:
    assert parse("M1", {"meter_id": "M1", "ts": "2024-06-01T12:00:00+08:00", "kwh": 1}) == [
        ("M1", UTC_NOON, 1.0, None)]
    assert "payload meter_id 'M2' disagrees with meter 'M1'" in rejected(
        '{"meter_id": "M2", "ts": "2024-06-01T12:00:00+08:00", "kwh": 1}')


def test_without_a_plus_level_the_payload_names_the_meter() -> None:
    topic, flat = "plant/7/energy", "plant/7/energy"
    assert meter_from_topic(topic, flat) is None
    message = parse_payload(topic, b'{"meter_id": "M7", "ts": "2024-06-01T12:00:00+08:00", "kwh": 3}',
                            topic_filter=flat)
    assert message.readings[0].meter_id == "M7"
    assert "no meter id" in rejected('{"ts": "2024-06-01T12:00:00+08:00", "kwh": 3}', topic, flat)


def test_the_first_plus_level_of_a_custom_filter_is_the_meter() -> None:
    assert meter_from_topic("site/S9/meter/M9/data", "site/+/meter/+/data") == "S9"
    assert meter_from_topic("park-a/M3", "park-a/+") == "M3"


def test_a_dlt645_reply_frame_gives_the_meters_address_and_register() -> None:
    frame = energy_frame("112233445566", "12345.67")
    assert parse("112233445566", {"ts": "2024-06-01T12:00:00+08:00", "frame": frame}) == [
        ("112233445566", UTC_NOON, None, 12345.67)]
    assert "frame address '112233445566' disagrees with meter 'M1'" in rejected(
        json.dumps({"ts": "2024-06-01T12:00:00+08:00", "frame": frame}))
    error = dlt645.error_reply("112233445566", 0x02).hex()
    assert "no requested data" in rejected(json.dumps({"ts": "2024-06-01T12:00:00+08:00", "frame": error}),
                                           "tanhui/meters/112233445566/readings")
    assert "not hexadecimal" in rejected('{"ts": "2024-06-01T12:00:00+08:00", "frame": "68zz"}')


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\xff\xfe", "not UTF-8"),
    ("kwh=1", "not JSON"),
    ("[]", "empty array"),
    ("42", "expected a JSON object, got int"),
    ('{"kwh": 1}', "has no ts"),
    ('{"ts": "2024-06-01T12:00:00+08:00"}', "needs exactly one of kwh, register_kwh, frame; has none"),
    ('{"ts": "2024-06-01T12:00:00+08:00", "kwh": 1, "register_kwh": 5}', "has kwh, register_kwh"),
    ('{"ts": "2024-06-01T12:00:00+08:00", "kWh": 1}', "unknown field(s) kWh"),
    ('{"ts": "2024-06-01T12:00:00+08:00", "kwh": "1.5"}', "kwh '1.5' is not a finite number"),
    ('{"ts": "2024-06-01T12:00:00+08:00", "kwh": NaN}', "kwh nan is not a finite number"),
    ('{"ts": "2024-06-01T12:00:00+08:00", "kwh": true}', "kwh True is not a finite number"),
    ('{"ts": "yesterday noon", "kwh": 1}', "ts 'yesterday noon' is not an ISO 8601 timestamp"),
    ('{"ts": null, "kwh": 1}', "ts None is neither"),
    ('{"ts": 1e300, "kwh": 1}', "is not a usable Unix time"),
])
def test_a_bad_payload_is_rejected_with_the_reason(payload: bytes | str, reason: str) -> None:
    assert reason in rejected(payload)


def test_a_bad_reading_in_an_array_is_named_by_its_position() -> None:
    detail = rejected('[{"ts": "2024-06-01T12:00:00+08:00", "kwh": 1}, {"ts": "2024-06-01T12:15:00+08:00"}]')
    assert detail.startswith("reading 1: needs exactly one of")


def test_a_topic_without_a_meter_level_is_rejected() -> None:
    assert "has no meter id" in rejected('{"ts": "2024-06-01T12:00:00+08:00", "kwh": 1}', "tanhui/meters//readings")


def test_broker_urls() -> None:
    assert Broker.from_url("mqtt://127.0.0.1:1883") == Broker("127.0.0.1", 1883)
    assert Broker.from_url("mqtts://u%40x:p@mq.example") == Broker("mq.example", 8883, True, "u@x", "p")
    for bad in ("http://127.0.0.1:1883", "mqtt://", "127.0.0.1:1883", "mqtt://h:port", "mqtt://h:1883/x"):
        with pytest.raises(InvalidRequest, match=r"must look like|invalid port"):
            Broker.from_url(bad)


@pytest.mark.parametrize("topic_filter", ["", "a/#/b", "a/b+/c", "a/#x", "a\0b"])
def test_an_invalid_topic_filter_is_refused(topic_filter: str) -> None:
    with pytest.raises(InvalidRequest, match="not a valid MQTT filter"):
        ListenerSettings(Broker("127.0.0.1", 1883), topic_filter=topic_filter)
    assert ListenerSettings(Broker("127.0.0.1", 1883), topic_filter="a/+/b/#").topic_filter == "a/+/b/#"


def test_the_listener_says_which_broker_it_cannot_reach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANHUI_DATA_DIR", str(tmp_path))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nothing listens on
    port = closed.getsockname()[1]
    try:
        result = CliRunner().invoke(app, ["mrv", "listen", "--any-meter", "--broker", f"mqtt://127.0.0.1:{port}"])
    finally:
        closed.close()
    assert result.exit_code == 1
    assert f"the MQTT broker mqtt://127.0.0.1:{port} is not reachable" in " ".join(result.stderr.split())
    assert not (tmp_path / "lake").exists()


# ---------------------------------------------------------------- storing batches (real lake, no broker)


def stored_rows(lake: Lake) -> list[tuple[str, datetime, float | None, float | None]]:
    frame = lake.scan().collect().sort("meter_id", "ts")
    return [(r["meter_id"], r["ts"], r["kwh"], r["register_kwh"]) for r in frame.iter_rows(named=True)]


def reading(meter: str, ts: str, kwh: float) -> Message:
    return Message(f"tanhui/meters/{meter}/readings", json.dumps({"ts": ts, "kwh": kwh}).encode())


def test_bad_messages_go_to_the_rejects_file_and_do_not_hold_back_the_good_ones(tmp_path: Path) -> None:
    lake, rejects = Lake(tmp_path / "lake"), RejectsFile(tmp_path / "rejects" / "telemetry.jsonl")
    batch = [
        reading("M1", "2024-06-01T12:00:00+08:00", 1.0),
        Message("tanhui/meters/M1/readings", b"\x00garbage"),
        reading("M9", "2024-06-01T12:00:00+08:00", 1.0),  # not a known meter
        reading("M2", "2024-06-01T12:07:00+08:00", 1.0),  # not a 15-minute boundary
        reading("M2", "2024-06-01T12:15:00+08:00", 2.0),
    ]
    report = store_batch(lake, batch, source="test", rejects=rejects, known_meters={"M1", "M2"})
    assert (report.messages, report.readings, report.rows_stored, report.rows_already_stored) == (5, 2, 2, 0)
    assert stored_rows(lake) == [("M1", UTC_NOON, 1.0, None), ("M2", UTC_NOON + timedelta(minutes=15), 2.0, None)]
    lines = [json.loads(line) for line in rejects.path.read_text().splitlines()]
    assert [(line["topic"], line["payload"]) for line in lines] == [
        ("tanhui/meters/M1/readings", "\x00garbage"),
        ("tanhui/meters/M9/readings", '{"ts": "2024-06-01T12:00:00+08:00", "kwh": 1.0}'),
        ("tanhui/meters/M2/readings", '{"ts": "2024-06-01T12:07:00+08:00", "kwh": 1.0}'),
    ]
    assert "not JSON" in lines[0]["reason"]
    assert lines[1]["reason"] == "unknown meter(s) M9"
    assert "not the start of a 15-minute interval" in lines[2]["reason"]
    assert all(datetime.fromisoformat(line["time"]).tzinfo is not None for line in lines)


def test_payload_bytes_that_are_not_text_are_kept_exactly(tmp_path: Path) -> None:
    rejects = RejectsFile(tmp_path / "rejects.jsonl")
    store_batch(Lake(tmp_path / "lake"), [Message("tanhui/meters/M1/readings", b"\xff\x00\x01")],
                source="test", rejects=rejects)
    (line,) = [json.loads(text) for text in rejects.path.read_text().splitlines()]
    assert line["payload_base64"] == "/wAB" and "payload" not in line


def test_a_redelivered_batch_stores_nothing_twice(tmp_path: Path) -> None:
    lake, rejects = Lake(tmp_path / "lake"), RejectsFile(tmp_path / "rejects.jsonl")
    batch = [reading("M1", f"2024-06-01T12:{minute:02d}:00+08:00", minute / 10) for minute in (0, 15, 30, 45)]
    first = store_batch(lake, batch, source="test", rejects=rejects)
    # The same messages again, and one of them twice within the batch (a redelivery racing the original).
    again = store_batch(lake, [*batch, batch[0]], source="test", rejects=rejects)
    assert (first.rows_stored, first.rows_already_stored) == (4, 0)
    assert (again.rows_stored, again.rows_already_stored, again.batch_id) == (0, 5, None)
    assert len(stored_rows(lake)) == 4 and len(lake.manifest()["batches"]) == 1
    assert not rejects.path.exists()


# ---------------------------------------------------------------- against the real Mosquitto broker


@pytest.fixture
def broker() -> Broker:
    """The test broker, or a skip (a failure under CI=true) when nothing accepts connections there."""
    address = Broker.from_url(MQTT_URL)
    try:
        socket.create_connection((address.host, address.port), timeout=5).close()
    except OSError as exc:
        message = f"the MQTT broker is not reachable at {MQTT_URL}: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: the telemetry tests must run)", pytrace=False)
        pytest.skip(message)
    return address


@pytest.fixture
def session(broker: Broker) -> Iterator[tuple[str, str]]:
    """A client id and topic prefix of this test alone; the broker forgets the session afterwards."""
    unique = uuid.uuid4().hex[:12]
    client_id, prefix = f"tanhui-test-{unique}", f"tanhui-test/{unique}/meters"
    yield client_id, prefix
    # Connecting with a clean start and no session expiry discards what the broker kept for the client id.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect(broker.host, broker.port, clean_start=True, properties=properties)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


class Publisher:
    """A paho client publishing at QoS 1 and waiting for the broker to take each message."""

    def __init__(self, broker: Broker, prefix: str) -> None:
        self.prefix = prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:12]}",
                                  protocol=mqtt.MQTTv5)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, meter: str, payload: bytes | str) -> None:
        info = self.client.publish(f"{self.prefix}/{meter}/readings", payload, qos=1)
        info.wait_for_publish(timeout=WAIT_SECONDS)
        assert info.is_published(), f"the broker did not take message {info.mid}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class ListenerProcess:
    """`python -m tanhui mrv listen …` as a separate process, its output lines collected as they come."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _arrived: queue.Queue[str] = field(default_factory=queue.Queue)

    @classmethod
    def start(cls, data_dir: Path, broker: Broker, client_id: str, prefix: str, *options: str) -> ListenerProcess:
        env = {**os.environ, "TANHUI_DATA_DIR": str(data_dir)}
        process = subprocess.Popen(
            [sys.executable, "-m", "tanhui", "mrv", "listen", "--broker", str(broker),
             "--topic", f"{prefix}/+/readings", "--client-id", client_id, *options],
            cwd=data_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = cls(process)
        threading.Thread(target=started._read, daemon=True).start()
        return started

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._arrived.put(line.rstrip("\n"))

    def wait_for_line(self, predicate: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self._arrived.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None, f"the listener exited: {self.lines}"
                continue
            self.lines.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no such line within {WAIT_SECONDS} s: {self.lines}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=WAIT_SECONDS)
        while True:  # the reader thread has the last lines once the pipe is closed
            try:
                self.lines.append(self._arrived.get(timeout=1))
            except queue.Empty:
                return code


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def lake_rows(lake: Lake) -> pl.DataFrame:
    return lake.scan().collect()


def test_a_stream_is_stored_end_to_end_by_the_listener(tmp_path: Path, broker: Broker,
                                                       session: tuple[str, str]) -> None:
    client_id, prefix = session
    data_dir = tmp_path / "data"
    sites = tmp_path / "sites.csv"
    sites.write_text("meter_id,site_id,owner,capacity_kw,latitude,longitude,region,commissioned\n"
                     "M1,S1,Owner A,50,31.3,120.6,Suzhou,2023-01-01\n"
                     "M2,S2,Owner A,80,31.3,120.6,Suzhou,2023-01-01\n"
                     "112233445566,S3,Owner B,30,31.3,120.6,Suzhou,2023-01-01\n")
    # Long batches: nothing is stored by size or time, so what is stored below was stored by the stop.
    options = ("--sites", str(sites), "--batch-size", "100", "--batch-seconds", "600")

    # A first run makes the broker session; readings published while no listener runs wait in it.
    first = ListenerProcess.start(data_dir, broker, client_id, prefix, *options)
    assert "new session" in first.wait_for_line(lambda line: line.startswith("listening"))
    assert first.stop() == 0
    publisher = Publisher(broker, prefix)
    try:
        publisher.publish("M1", '{"ts": "2024-06-01T12:00:00+08:00", "kwh": 1.5}')
        publisher.publish("M2", json.dumps([{"ts": f"2024-06-01T12:{m:02d}:00", "register_kwh": 100 + m}
                                            for m in (0, 15, 30)]))
        publisher.publish("112233445566", json.dumps({"ts": "2024-06-01T12:00:00+08:00",
                                                      "frame": energy_frame("112233445566", "4321.09")}))
        publisher.publish("M9", '{"ts": "2024-06-01T12:00:00+08:00", "kwh": 1.0}')
        publisher.publish("M1", "not json")
        publisher.publish("M1", '{"ts": "2024-06-01T12:07:00+08:00", "kwh": 1.0}')
    finally:
        publisher.close()

    # The broker delivers the session's waiting messages before it confirms the subscription.
    second = ListenerProcess.start(data_dir, broker, client_id, prefix, *options)
    assert "resumed session" in second.wait_for_line(lambda line: line.startswith("listening"))
    assert second.stop() == 0
    output = "\n".join(second.lines)
    assert "6 messages, 5 readings: 5 stored, 0 already stored, 3 messages rejected" in output
    assert "3 timestamps without offset read as Asia/Shanghai" in output
    assert "stopped / 已停止: 6 messages in 1 batch(es); 5 readings stored, 0 already stored, 3 messages rejected" \
        in output
    assert stored_rows(Lake(data_dir / "lake")) == [
        ("112233445566", UTC_NOON, None, 4321.09),
        ("M1", UTC_NOON, 1.5, None),
        ("M2", UTC_NOON, None, 100.0),
        ("M2", UTC_NOON + timedelta(minutes=15), None, 115.0),
        ("M2", UTC_NOON + timedelta(minutes=30), None, 130.0),
    ]
    reasons = [json.loads(line)["reason"] for line in (data_dir / "rejects" / "telemetry.jsonl").read_text()
               .splitlines()]
    assert len(reasons) == 3
    assert reasons[0] == "unknown meter(s) M9" and "not JSON" in reasons[1] and "15-minute" in reasons[2]


def test_a_listener_killed_mid_stream_loses_and_doubles_nothing(tmp_path: Path, broker: Broker,
                                                               session: tuple[str, str]) -> None:
    client_id, prefix = session
    data_dir = tmp_path / "data"
    lake = Lake(data_dir / "lake")
    meters = [f"K{n}" for n in range(6)]
    # 600 readings, one message each: 6 meters x 100 intervals; values unique so a mix-up would show.
    published = [(meter, UTC_NOON + i * timedelta(minutes=15), round(m * 1000 + i * 0.25, 2))
                 for i in range(100) for m, meter in enumerate(meters)]
    half = len(published) // 2

    def send(readings: list[tuple[str, datetime, float]]) -> None:
        publisher = Publisher(broker, prefix)
        try:
            for meter, ts, kwh in readings:
                publisher.publish(meter, json.dumps({"ts": ts.isoformat(), "kwh": kwh}))
        finally:
            publisher.close()

    # Batches of 40 stored as they fill; a partial batch would wait 10 minutes, so the first listener always holds
    # received but unacknowledged messages when it is killed.
    first = ListenerProcess.start(data_dir, broker, client_id, prefix, "--any-meter", "--batch-size", "40",
                                  "--batch-seconds", "600")
    first.wait_for_line(lambda line: line.startswith("listening"))
    streaming = threading.Thread(target=send, args=(published[:half],))
    streaming.start()
    wait_until(lambda: len(lake.manifest()["batches"]) >= 3, "the first listener to store three batches")
    first.process.kill()  # SIGKILL: no flush, no acknowledgement, no clean disconnect
    first.process.wait(timeout=WAIT_SECONDS)
    streaming.join()
    before_kill = lake_rows(lake)
    assert 120 <= before_kill.height < half

    # The second half is published while no listener runs; the broker keeps it in the session.
    send(published[half:])
    second = ListenerProcess.start(data_dir, broker, client_id, prefix, "--any-meter", "--batch-size", "40",
                                   "--batch-seconds", "0.2")
    assert "resumed session" in second.wait_for_line(lambda line: line.startswith("listening"))
    wait_until(lambda: lake_rows(lake).height >= len(published), "every reading to be stored")
    assert second.stop() == 0

    final = lake_rows(lake)
    expected = pl.DataFrame({"meter_id": [m for m, _, _ in published], "ts": [t for _, t, _ in published],
                             "kwh": [k for _, _, k in published]},
                            schema={"meter_id": pl.String, "ts": pl.Datetime("us", "UTC"), "kwh": pl.Float64})
    assert final.height == len(published), "a reading was stored twice"
    assert final.select("meter_id", "ts", "kwh").sort("meter_id", "ts").equals(expected.sort("meter_id", "ts"))
    assert final["register_kwh"].null_count() == final.height
    assert before_kill.join(final, on=list(final.columns), how="anti", nulls_equal=True).is_empty()


def test_the_listener_takes_the_registered_meters_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANHUI_DATA_DIR", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["--database-url", url, "db", "upgrade"]).exit_code == 0
    none_yet = runner.invoke(app, ["--database-url", url, "mrv", "listen"])
    assert none_yet.exit_code == 1 and "no meters are registered" in " ".join(none_yet.stderr.split())
    both = runner.invoke(app, ["mrv", "listen", "--any-meter", "--sites", str(tmp_path / "registry.db")])
    assert both.exit_code == 2 and "give one" in " ".join(both.output.split())
    assert not (tmp_path / "data" / "lake").exists()
