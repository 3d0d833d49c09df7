"""The prompt path built locally: a word-level tokenizer and a tiny T5 encoder trained with the transformer.

No pretrained text model may be downloaded, so the vocabulary is the words of the training captions
(captions.json) plus special tokens; any other word maps to <unk>. The tokenizer is a
`PreTrainedTokenizerFast`, so diffusers' Wan/LTX pipelines use it exactly like their T5 tokenizers
(padding to max_length, attention mask, </s> appended), and it saves/loads with save_pretrained.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"  # T5's ids 0, 1, 2


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()


def build_tokenizer(captions: Iterable[str], max_length: int = 16):
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for w in sorted({w for c in captions for w in words(c)}):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    # Lower-case and drop punctuation so "Cars, at night!" and "cars at night" tokenise alike.
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(Regex(r"[^a-z0-9 ]"), " ")])
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK, model_max_length=max_length,
        padding_side="right",
    )


def build_text_encoder(vocab_size: int, d_model: int = 128, num_layers: int = 2, num_heads: int = 4, d_ff: int = 256):
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=d_model // num_heads, d_ff=d_ff, num_layers=num_layers,
                   num_heads=num_heads, dropout_rate=0.0, feed_forward_proj="gated-gelu", is_encoder_decoder=False,
                   relative_attention_num_buckets=8, relative_attention_max_distance=32)
    return T5EncoderModel(cfg)
