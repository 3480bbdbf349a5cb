"""The three Lambda functions (draft_session, purge_course, cleanup_drafts) and what they share."""

import os

# pydantic looks for plugins (entry points of every installed distribution) when it builds its first
# model: about 15 ms of a cold start. The functions use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
