"""Methodologies: how verified activity data become emission reductions, one module per methodology, versioned."""

from __future__ import annotations

from tanhui.methodologies.distributed_pv import CODE as DISTRIBUTED_PV
from tanhui.methodologies.distributed_pv import DistributedPV, methodology, versions

__all__ = ["DISTRIBUTED_PV", "DistributedPV", "methodology", "versions"]
