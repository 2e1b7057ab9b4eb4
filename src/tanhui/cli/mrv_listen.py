"""`tanhui mrv listen`: store live meter telemetry from MQTT, acknowledging each message once it is durable."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import typer

from tanhui.cli.context import fail, state
from tanhui.cli.mrv_ingest import registered_meters


def listen(
    ctx: typer.Context,
    broker: str | None = typer.Option(
        None, "--broker", metavar="URL", show_default=False,
        help="MQTT broker as mqtt://host:port, user:password@ before the host if needed, mqtts:// for TLS. "
             "Default TANHUI_MQTT_URL.",
    ),
    topic: str | None = typer.Option(
        None, "--topic", metavar="FILTER", show_default=False,
        help="Topic filter; its first '+' level is the meter id. Default tanhui/meters/+/readings.",
    ),
    client_id: str | None = typer.Option(
        None, "--client-id", metavar="ID", show_default=False,
        help="MQTT client id naming the broker session that keeps unacknowledged readings. Default tanhui-mrv-listen.",
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, max=32_767, metavar="N", show_default=False,
        help="Store a batch when it holds N messages (default 500) ...",
    ),
    batch_seconds: float | None = typer.Option(
        None, "--batch-seconds", min=0.01, metavar="S", show_default=False,
        help="... or when its first message has waited S seconds (default 2).",
    ),
    sites: Path | None = typer.Option(
        None, "--sites", metavar="SITES.csv", exists=True, dir_okay=False,
        help="Sites file; readings of meters not in it are rejected. Default: the meters registered in the "
             "registry database (`tanhui mrv sites import`).",
    ),
    any_meter: bool = typer.Option(
        False, "--any-meter", help="Accept readings of every meter (a test bench, or meters registered later).",
    ),
) -> None:
    """Store live meter readings from MQTT / 实时接收电表数据: each acknowledged only once durably stored.

    Killing it loses nothing acknowledged; SIGTERM or Ctrl-C stores the current batch first. See docs/mrv-telemetry.md.
    """
    from tanhui.mrv import telemetry
    from tanhui.mrv.frames import LOCAL_TIMEZONE
    from tanhui.mrv.lake import Lake

    cli = state(ctx)
    data_dir = cli.settings.data_dir
    if sites is not None and any_meter:
        raise typer.BadParameter("--sites names the meters to accept; --any-meter accepts all: give one",
                                 param_hint="--any-meter")
    known_meters: frozenset[str] | None = None
    if sites is not None:
        from tanhui.mrv.sites import read_sites

        known_meters = frozenset(read_sites(sites)["meter_id"].to_list())
    elif not any_meter:
        known_meters = registered_meters(ctx)
    settings = telemetry.ListenerSettings(
        broker=telemetry.Broker.from_url(broker or cli.settings.mqtt_url),
        topic_filter=topic or telemetry.TOPIC_FILTER,
        client_id=client_id or telemetry.DEFAULT_CLIENT_ID,
        batch_size=batch_size or telemetry.BATCH_SIZE,
        batch_seconds=batch_seconds or telemetry.BATCH_SECONDS,
        known_meters=known_meters,
    )
    rejects = telemetry.RejectsFile(data_dir / "rejects" / "telemetry.jsonl")
    lake = Lake(data_dir / "lake")

    def ready(session_present: bool) -> None:
        typer.echo(f"listening / 监听中: {settings.broker} topic {settings.topic_filter} as client "
                   f"{settings.client_id} ({'resumed session' if session_present else 'new session'}); "
                   f"lake {lake.root}; rejects {rejects.path}")

    def stored(report: telemetry.BatchReport) -> None:
        line = (f"batch / 批次 {report.batch_id or '—'}: {report.messages} messages, {report.readings} readings: "
                f"{report.rows_stored} stored, {report.rows_already_stored} already stored, "
                f"{len(report.rejects)} messages rejected")
        if report.naive_timestamps:
            line += f"; {report.naive_timestamps} timestamps without offset read as {LOCAL_TIMEZONE}"
        typer.echo(line)

    # Connection changes and rejected messages are logged (journald keeps them when run as a service).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    telemetry.log.addHandler(handler)
    telemetry.log.setLevel(logging.INFO)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    listener = telemetry.Listener(lake, rejects, settings, on_ready=ready, on_batch=stored)
    try:
        totals = listener.run(stop)
    except OSError as exc:
        fail(ctx, f"storing telemetry failed: {exc}; the batch was not acknowledged, so the broker will deliver "
                  "it again when the listener is restarted")
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        telemetry.log.removeHandler(handler)
    typer.echo(f"stopped / 已停止: {totals.messages} messages in {totals.batches} batch(es); "
               f"{totals.rows_stored} readings stored, {totals.rows_already_stored} already stored, "
               f"{totals.rejected} messages rejected" + (f" (see {rejects.path})" if totals.rejected else ""))
