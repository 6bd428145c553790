"""The webhook function's stage: Magic Hour's signature and one webhook delivery."""
