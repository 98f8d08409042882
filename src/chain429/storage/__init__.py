"""Storage: the SQLite database and what is kept in it."""
