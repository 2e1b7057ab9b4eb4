"""Alembic migrations of the Tanhui schema, shipped inside the package so an installed copy can migrate."""
