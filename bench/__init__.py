"""Herald's benchmarks: `python -m bench.run` (or `make bench`) writes `bench/results/latest.json`."""
