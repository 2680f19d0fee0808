#!/usr/bin/env python3
"""T5 tokenizer fixtures (tests/data/text/t5_small/spiece.model, t5_small_ids.safetensors):

    source /tmp/latte-env.sh; PYTHONPATH=/tmp/textenv4:$PYTHONPATH \
        .venv/bin/python tests/data/gen/gen_t5_tokenizer.py [--out tests/data/text] [--train]

--train: trains a small SentencePiece unigram model with T5's special ids (<pad> 0, </s> 1, <unk> 2,
no BOS; nmt_nfkc normalisation, as T5's) on the prompt corpus (tests/data/text/prompts.json) plus
seeded synthetic captions, single-threaded (the real t5 spiece.model is not available here; the
algorithm is the same). Without --train the committed model is used.
Ids: transformers' T5Tokenizer (run with transformers 4.24: the sentencepiece-backed "slow" class that
LVDM-era and diffusers' Latte / PixArt pipelines used), called as diffusers' LattePipeline calls it:
tokenizer(prompt, padding="max_length", max_length=120, truncation=True, return_attention_mask=True,
add_special_tokens=True). With transformers 5 the count of prompts that differ is printed instead.
"""
import argparse
import json
import os
import random

import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "text"))
    ap.add_argument("--train", action="store_true")
    a = ap.parse_args()
    prompts = json.load(open(os.path.join(a.out, "prompts.json"), encoding="utf-8"))
    d = os.path.join(a.out, "t5_small")
    os.makedirs(d, exist_ok=True)
    model = os.path.join(d, "spiece.model")
    if a.train:
        import sentencepiece as spm
        rnd = random.Random(0)
        words = ("a an the red green blue yellow square circle sprite moving left right up down fast slow sea storm "
                 "calm beach dog cat corgi running jumping video frame camera pans zooms over under bright dark night "
                 "day city street car train bird flying tree forest mountain river water fire smoke cloud sky sun "
                 "moon star").split()
        lines = [p.replace("\n", " ") for p in prompts if p.strip()]
        lines += [" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 15))) for _ in range(20000)]
        txt = os.path.join(d, "train.txt")
        open(txt, "w", encoding="utf-8").write("\n".join(lines))
        spm.SentencePieceTrainer.train(input=txt, model_prefix=os.path.join(d, "spiece"), vocab_size=1500,
                                       model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                       character_coverage=0.995, normalization_rule_name="nmt_nfkc", num_threads=1,
                                       input_sentence_size=30000, shuffle_input_sentence=False, minloglevel=2)
        os.remove(txt)
        os.remove(os.path.join(d, "spiece.vocab"))
    import transformers
    from transformers import T5Tokenizer
    major = int(transformers.__version__.split(".")[0])
    tok = T5Tokenizer(vocab_file=model, extra_ids=0) if major < 5 else T5Tokenizer.from_pretrained(d, extra_ids=0)
    enc = tok(prompts, padding="max_length", max_length=120, truncation=True, return_attention_mask=True,
              add_special_tokens=True, return_tensors="pt")
    if major >= 5:
        from safetensors.torch import load_file
        old = load_file(os.path.join(a.out, "t5_small_ids.safetensors"))["input_ids"].to(torch.int64)
        diff = [i for i in range(len(prompts)) if not torch.equal(enc["input_ids"][i], old[i])]
        print(f"transformers {transformers.__version__}: {len(diff)} of {len(prompts)} prompts differ from the "
              f"committed (4.x, sentencepiece) ids; first: {[prompts[i][:40] for i in diff[:8]]}")
        return
    # int16 ids (vocabulary 1,500) and the unpadded lengths (the mask is ids[:length] = 1) keep it small.
    save_file({"input_ids": enc["input_ids"].to(torch.int16).contiguous(),
               "lengths": enc["attention_mask"].sum(1).to(torch.int16).contiguous()},
              os.path.join(a.out, "t5_small_ids.safetensors"),
              metadata={"generator": "tests/data/gen/gen_t5_tokenizer.py", "transformers": transformers.__version__,
                        "tokenizer_class": type(tok).__name__, "max_length": "120", "n_prompts": str(len(prompts)),
                        "call": 'tokenizer(p, padding="max_length", max_length=120, truncation=True, '
                                'return_attention_mask=True, add_special_tokens=True)'})
    print(f"wrote t5_small_ids.safetensors ({len(prompts)} prompts) with transformers {transformers.__version__} "
          f"{type(tok).__name__}; spiece.model {os.path.getsize(model)} bytes")


if __name__ == "__main__":
    main()
