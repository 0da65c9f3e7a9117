"""Answers one SQL question over a lake's Parquet files with DuckDB, as JSON lines (for
crates/hunt/tests/hunt.rs, which asks the same question in the hunt language and compares)."""
import json
import sys

import duckdb

lake, sql = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(
    f"CREATE VIEW lake AS SELECT * FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true)"
)
cursor = con.execute(sql)
names = [d[0] for d in cursor.description]
for row in cursor.fetchall():
    print(json.dumps(dict(zip(names, row))))
