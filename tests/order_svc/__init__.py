"""Tests of order_svc: its pure rules, its activities against fake stubs, its workflow on the time-skipping server."""
