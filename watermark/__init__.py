"""vidprov.watermark: invisible pixel watermark, latent (generation-time) watermark, Content Credentials.

    from vidprov.watermark import embed, detect, sign
    marked = embed(clip, key="my secret", payload="0123456789abcdef")
    detect(marked, key="my secret").p_value

Checking every layer of a file at once is vidprov.verify (vidprov.provenance).
"""

from vidprov.watermark.credentials import Claims, sign
from vidprov.watermark.pixel import WatermarkResult, detect, detect_file, embed

__all__ = ["embed", "detect", "detect_file", "WatermarkResult", "sign", "Claims"]
