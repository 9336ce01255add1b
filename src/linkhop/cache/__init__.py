"""Generic caches (no domain imports): the in-process TTL/LRU and single-flight loading."""
