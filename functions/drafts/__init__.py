"""The draft session domain: its life cycle (model.py) and the operations of the API (service.py)."""
