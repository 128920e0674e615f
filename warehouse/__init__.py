"""The SQL warehouse: schema (migrations), engines, loads, the batch ledger."""
