"""The callback function's stage: signing and delivering a client's callback."""
