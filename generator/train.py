"""Training entry point: `python -m vidprov.generator.train vae|dit --family wan|ltx ...`.

Also launchable with torchrun for data-parallel training, e.g.
`torchrun --nproc_per_node 2 -m vidprov.generator.train vae --family ltx --out runs/ltx_vae`.
Every run resumes from OUT/ckpt.pt when it exists.
"""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vidprov.generator.train")
    sub = p.add_subparsers(dest="what", required=True)
    v = sub.add_parser("vae", help="train a video VAE")
    v.add_argument("--family", required=True, choices=["wan", "ltx"])
    v.add_argument("--out")
    v.add_argument("--data", help="Manifest file or folder (default: ../shared/data)")
    v.add_argument("--cache-dir")
    v.add_argument("--frames", type=int)
    v.add_argument("--size", type=int, help="training crop side (default 64)")
    v.add_argument("--eval-size", type=int, help="held-out crop side for PSNR (default 64)")
    v.add_argument("--batch-size", type=int)
    v.add_argument("--lr", type=float)
    v.add_argument("--steps", type=int)
    v.add_argument("--minutes", type=float)
    v.add_argument("--ckpt-every-s", type=float)
    v.add_argument("--eval-every", type=int)
    v.add_argument("--seed", type=int)
    v.add_argument("--threads", type=int)
    v.add_argument("--freeze-encoder", action="store_true", default=None)
    v.add_argument("--init-from")
    v.add_argument("--device")
    v.add_argument("--latent-channels", type=int, help="VAE latent channels (default 16)")
    v.add_argument("--spatial-compression", type=int, choices=[4, 8], help="wan only: 8 (default) or 4")
    d = sub.add_parser("dit", help="train a text-conditioned transformer on frozen-VAE latents")
    d.add_argument("--family", required=True, choices=["wan", "ltx"])
    d.add_argument("--out")
    d.add_argument("--vae-ckpt", help="train_vae checkpoint (default runs/<family>_vae/ckpt.pt)")
    d.add_argument("--vae-dir", help="or a saved diffusers VAE folder")
    d.add_argument("--data")
    d.add_argument("--cache-dir")
    d.add_argument("--windows-per-clip", type=int)
    d.add_argument("--crops-per-window", type=int)
    d.add_argument("--batch-size", type=int)
    d.add_argument("--lr", type=float)
    d.add_argument("--steps", type=int)
    d.add_argument("--minutes", type=float)
    d.add_argument("--ckpt-every-s", type=float)
    d.add_argument("--eval-every", type=int)
    d.add_argument("--seed", type=int)
    d.add_argument("--threads", type=int)
    d.add_argument("--init-from", help="a saved pipeline folder to continue training from")
    d.add_argument("--device")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kw = {k: val for k, val in vars(args).items() if k not in ("what", "family")}
    if args.what == "vae":
        from vidprov.generator.train_vae import make_config, train_vae

        train_vae(make_config(args.family, **kw))
    else:
        from vidprov.generator.train_dit import make_config, train_dit

        train_dit(make_config(args.family, **kw))


if __name__ == "__main__":
    main()
