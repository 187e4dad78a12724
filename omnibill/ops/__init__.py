"""Operating runs from Prefect: artifacts, events, provider limits, rerun selection, dry-run forecast."""
