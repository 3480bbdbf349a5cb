"""The purge's stores, one module each: its adapter, its step, its orphan source and its entry in
the registry (`STORE`, read by functions/purge/registry.py). A new store is a new module here."""
