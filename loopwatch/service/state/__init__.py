"""An account's durable state: split into parts in the ``account-state`` table, so that each
snapshot sends only what changed and every message stays small.

    AccountState ──parts.py──► named parts ──writer.py──► changelog messages (key, value|None)
    table entries ──restore.py──► AccountState + the StateWriter that goes on from them

``table.py`` holds the key layout.
"""

from loopwatch.service.state.restore import Restored, restore
from loopwatch.service.state.table import keys_by_account, saved_by_account, table_account
from loopwatch.service.state.writer import StateWriter, Write

__all__ = [
    "Restored",
    "StateWriter",
    "Write",
    "keys_by_account",
    "restore",
    "saved_by_account",
    "table_account",
]
