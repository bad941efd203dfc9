"""The machine ooo runs on: one daemon per state dir (lock), noticing config edits (reload),
the log file (logs), desktop notifications (notify), the service manager (service), and where
passwords and tokens come from (secrets, oauth)."""
