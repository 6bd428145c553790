"""The dispatcher function's stage: creating `waiting` jobs as slots free, fairest first.
It builds on create/, jobs/ and store/, never on another stage (docs/design.md, "Where things live")."""
