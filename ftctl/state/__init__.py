"""ftctl's state: what it last sent, what it last saw, and who may write next.

`model` holds the values and errors (pure); `store` keeps them in a SQLite file. Nothing is
re-exported here, so that the planner can import `model` without paying for sqlite_utils.
"""
