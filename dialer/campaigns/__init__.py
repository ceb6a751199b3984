"""Campaigns: the model, calling hours, lifecycle."""
