"""Residents' points: behaviour events → integer gCO2e, a separate points ledger, redemption, packaging."""
