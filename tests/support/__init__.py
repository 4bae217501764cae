"""Helpers the tests share: a private PostgreSQL cluster."""
