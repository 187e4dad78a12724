"""The SQL ledger: the truth about every run, document, message and attempt."""
