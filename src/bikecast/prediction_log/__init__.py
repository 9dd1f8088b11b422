"""The prediction log: every forecast the API serves, written in the background as gzipped
JSON lines, partitioned by date and model version, to a local directory or an S3 prefix.

- records.py: one line per forecast hour, the partition key, encode/decode;
- destinations.py: where the files go (a directory, s3://bucket/prefix);
- writer.py: the API's buffer and its background flusher;
- reader.py: the files of a window back as a table, for `bikecast monitor`.
"""
