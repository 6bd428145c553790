"""The callback function's stage: signing and delivering a client's callback.
It builds on create/, jobs/ and store/, never on another stage (docs/design.md, "Where things live")."""
