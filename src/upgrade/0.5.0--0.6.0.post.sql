-- The erasure ledger's state: this database's identity, made where it lives now.
INSERT INTO privacy.erasure_ledger_state (here) VALUES (privacy_internal._ledger_here());
