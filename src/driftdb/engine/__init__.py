"""The engine: a database's tables as the writer and readers hold them (catalog, tablestore),
batches and commit, recovery, read views and their consistency protocol, the snapshot
policy. It holds the file descriptors and LMDB environments; it takes tables through its
own handle (handle.py), never the API's classes. Imports `index`, `storage`, `model`."""
