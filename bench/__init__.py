"""Benchmarks (`make bench`): how fast the store serves, sells and syncs, against the machine's ceiling."""
