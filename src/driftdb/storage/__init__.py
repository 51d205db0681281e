"""The only code that knows bytes and files: the I/O seam, the lock, frames and segments."""
