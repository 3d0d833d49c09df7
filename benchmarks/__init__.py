"""vidprov.benchmarks"""
