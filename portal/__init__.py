"""Partner Portal: the data and domain package (config, database, models, services)."""
