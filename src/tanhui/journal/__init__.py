"""The append-only, hash-chained journal of every state change, and its audit."""
