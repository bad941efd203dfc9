"""Test suite and test infrastructure for ooo (importing this package never imports ooo)."""
