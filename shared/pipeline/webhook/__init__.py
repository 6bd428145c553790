"""The webhook function's stage: Magic Hour's signature and one webhook delivery.
It builds on create/, jobs/ and store/, never on another stage (docs/design.md, "Where things live")."""
