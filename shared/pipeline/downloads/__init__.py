"""The downloader function's stage: one download task, and the HTTP-to-S3 copy it makes.
It builds on create/, jobs/ and store/, never on another stage (docs/design.md, "Where things live")."""
