"""The HTTP API: FastAPI routes over the platform's database and live topics."""
