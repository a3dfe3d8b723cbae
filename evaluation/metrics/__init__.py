"""Metrics engine: per-case and aggregate metrics with bootstrap intervals (numpy only).

``binary`` holds the metric definitions, ``bootstrap`` the vectorised case bootstrap and
``catalogue`` the JSON-safe result documents the evaluation app stores.
"""
