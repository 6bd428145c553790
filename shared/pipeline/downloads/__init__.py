"""The downloader function's stage: one download task, and the HTTP-to-S3 copy it makes."""
