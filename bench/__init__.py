"""assocflow's benchmarks: `make bench`, or `python -m bench --help`. Figures in docs/PERFORMANCE.md."""
