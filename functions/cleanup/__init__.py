"""The hourly draft cleanup: expired unused draft rows removed in bounded batches, and its health."""
