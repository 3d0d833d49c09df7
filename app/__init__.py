"""vidprov.app"""
