"""Mailbox backend tests: one contract (contract.py) run against every backend."""

import pytest

# contract.py holds asserts but is not a test module itself: have pytest rewrite them too, so a
# failing contract check shows its values.
pytest.register_assert_rewrite("tests.mailbox.contract")
