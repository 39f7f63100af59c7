-- mosx store schema v2 (PostgreSQL): the verification memo of object files, as SQLite's v2.
-- A row caches "this file, with this stat, hashed to this hash"; it is never the source of
-- truth. Inode and device numbers are u64 stored bit for bit in BIGINT.
CREATE TABLE object_stat (
    path        TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    mtime_ns    BIGINT NOT NULL,
    ino         BIGINT NOT NULL,
    dev         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    verified_at DOUBLE PRECISION NOT NULL
);
