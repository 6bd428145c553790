"""The sweep function's stage: reconciliation, so that nothing stays stuck.
It builds on create/, jobs/ and store/, never on another stage (docs/design.md, "Where things live")."""
