"""Regions the platform serves and their rules as data: what they accept for compliance offsetting, and how much."""
