"""omnibill: open omnichannel billing communication on Prefect."""

__version__ = "0.1.0"
