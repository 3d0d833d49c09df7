"""vidprov.watermark: invisible pixel watermark, latent (generation-time) watermark, Content Credentials.

    from vidprov.watermark import embed, detect, sign
    marked = embed(clip, key="my secret", payload="abc123")  # 24 bits; the rest binds content and key
    r = detect(marked, key="my secret")  # r.detected only when r.status == "bound"

Checking every layer of a file at once is vidprov.verify (vidprov.provenance).
"""

from vidprov.watermark.credentials import Claims, sign
from vidprov.watermark.pixel import WatermarkResult, detect, detect_file, embed

__all__ = ["embed", "detect", "detect_file", "WatermarkResult", "sign", "Claims"]
