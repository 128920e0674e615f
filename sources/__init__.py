"""Pull data from the source systems and land it, unchanged, in the raw landing zone."""
