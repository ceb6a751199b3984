"""Campaign reports: the outcomes and CDR exports as spreadsheet-safe CSV, and the summary.

Library first: ``dialer reports`` only opens the engine and the output file and calls these.
"""
