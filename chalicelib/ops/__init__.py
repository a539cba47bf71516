"""Operational checks for engineers (troubleshooting): read-only, no HTTP, no click."""
