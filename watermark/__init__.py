"""vidprov.watermark"""
