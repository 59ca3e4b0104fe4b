"""Infrastructure behind the kernel's interfaces: the database-backed job queue and its workers."""
