"""`tanhui mrv`: meter data in, flagged intervals and verified reductions out, and their issuance as credits."""

from __future__ import annotations

import typer

mrv = typer.Typer(
    no_args_is_help=True,
    help="Digital verification of distributed PV: sites, meter readings, verification, issuance, provenance.",
)

# Each command lives in its own module; heavy libraries (polars, pvlib) are imported inside the commands so
# that `tanhui --help` stays fast.

from tanhui.cli.mrv_listen import listen  # noqa: E402

mrv.command("listen")(listen)
from tanhui.cli.mrv_demo import demo_park  # noqa: E402

mrv.command("demo-park")(demo_park)
from tanhui.cli.mrv_ingest import ingest  # noqa: E402

mrv.command("ingest")(ingest)
from tanhui.cli.mrv_registry import claims, issue, provenance, sites  # noqa: E402

mrv.add_typer(sites, name="sites")
mrv.add_typer(claims, name="claims")
mrv.command("issue")(issue)
mrv.command("provenance")(provenance)
from tanhui.cli.mrv_verify import verify  # noqa: E402

mrv.command("verify")(verify)
