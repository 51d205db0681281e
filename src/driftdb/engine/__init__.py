"""The engine: the only code that holds file descriptors, LMDB environments or the lock."""
