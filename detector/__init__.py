"""vidprov.detector"""
