"""The REST API (FastAPI): routes, authentication, idempotency, problem details and pagination."""
