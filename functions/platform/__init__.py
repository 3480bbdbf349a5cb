"""The plumbing the three functions share: settings, errors, authentication, Idempotency-Key, HTTP.

Nothing here knows drafts, cleanup or the purge; the domains and the entry points use it.
"""
