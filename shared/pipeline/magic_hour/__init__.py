"""A small, explicit client for the parts of Magic Hour's API the pipeline uses."""
