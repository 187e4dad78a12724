"""Settings (pydantic-settings) and tenant rule files for omnibill."""
