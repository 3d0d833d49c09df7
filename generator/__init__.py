"""vidprov.generator"""
